package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// rawExchange writes head and body on a fresh connection to srv, reads one
// answer, and reports whether the server then closed the connection.
func rawExchange(t *testing.T, addr, request string) (res *http.Response, body []byte, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	res, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err = io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing more is coming: a closed connection reads EOF at once, an open
	// one times out.
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = br.ReadByte()
	return res, body, errors.Is(err, io.EOF)
}

// A request with both Content-Length and Transfer-Encoding may be framed
// differently by a proxy in front; it is refused without its body being read,
// and the connection it came on is closed, so nothing after it is served.
func TestContentLengthWithTransferEncodingIsRefusedAndClosed(t *testing.T) {
	srv, _ := newRoutedServer(t)
	addr := srv.Listener.Addr().String()
	smuggled := "GET /things HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer fedcba9876543210\r\n\r\n"
	for name, request := range map[string]string{
		"Content-Length and chunked": "POST /things HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer fedcba9876543210\r\n" +
			"Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"0\r\n\r\n" + smuggled,
		"chunked alone": "POST /things HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer fedcba9876543210\r\n" +
			"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"2\r\n{}\r\n0\r\n\r\n",
	} {
		res, body, closed := rawExchange(t, addr, request)
		var p Problem
		if res.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &p) != nil || p.Code != "validation_failed" ||
			len(p.Errors) != 1 || p.Errors[0].Field != "Transfer-Encoding" {
			t.Errorf("%s: %d %s, want 400 naming Transfer-Encoding", name, res.StatusCode, body)
		}
		if !closed {
			t.Errorf("%s: the connection stayed open after the 400", name)
		}
	}
	// A body with a Content-Length keeps the connection open as usual.
	res, body, closed := rawExchange(t, addr, "POST /things HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer fedcba9876543210\r\n"+
		"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	if res.StatusCode != http.StatusOK || closed {
		t.Errorf("a Content-Length body: %d %s, closed %v; want 200 on a kept connection", res.StatusCode, body, closed)
	}
}

func TestOrchestratorRefusesTransferEncodingInTheEnvelope(t *testing.T) {
	srv := httptest.NewServer(newTestOrchestrator(panickingCustomers{}, &bytes.Buffer{}))
	defer srv.Close()
	res, body, closed := rawExchange(t, srv.Listener.Addr().String(), "POST "+OrchestratePath+" HTTP/1.1\r\nHost: x\r\n"+
		"Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	var env OrchestratorEnvelope
	if res.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &env) != nil || env.Error == nil || !closed {
		t.Errorf("%d %s, closed %v; want a 400 envelope and a closed connection", res.StatusCode, body, closed)
	}
}
