package httpapi

import (
	"net/http"

	"github.com/b2borders/platform/core/errs"
)

// requireContentLength refuses a request whose body is framed by
// Transfer-Encoding, with 400 and without reading the body, and closes the
// connection after the answer. A request that carries both Content-Length
// and Transfer-Encoding may be read as two different messages by a proxy
// and by this server, which is how requests are smuggled; RFC 9112 §6.3 has
// the server close the connection after answering one. net/http lets
// Transfer-Encoding win and drops the Content-Length before a handler sees
// the request, so such a request cannot be told from a plainly chunked one:
// both are refused, and every client of these services sends
// Content-Length.
func requireContentLength(fail errorWriter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Connection", "close")
		var fe errs.Fields
		fe.Add("Transfer-Encoding", "is not accepted: send the body with a Content-Length")
		fail(w, r, fe.Err())
	})
}
