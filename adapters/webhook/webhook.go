// Package webhook sends events to a webhook endpoint as the Standard
// Webhooks specification (standardwebhooks.com) describes: a POST of the
// event's JSON with the headers webhook-id (the event id, which a receiver
// deduplicates by), webhook-timestamp (Unix seconds) and webhook-signature
// ("v1," and the base64 HMAC-SHA256 of "id.timestamp.body", keyed with the
// base64-decoded part of the whsec_ secret).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/core/events"
)

// Config names the endpoint and its secret.
type Config struct {
	URL string
	// Secret is "whsec_" followed by the base64 of 24 to 64 random bytes.
	Secret string
}

// SecretPrefix starts every secret.
const SecretPrefix = "whsec_"

// ParseSecret returns the signing key a whsec_ secret holds.
func ParseSecret(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, errors.New("must start with " + SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("must be " + SecretPrefix + " followed by base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("must hold 24 to 64 bytes after %s, not %d", SecretPrefix, len(key))
	}
	return key, nil
}

// Sign returns the webhook-signature value of a message: "v1," and the
// base64 HMAC-SHA256 of "id.timestamp.body" under key.
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Sender posts events to one endpoint.
type Sender struct {
	url    string
	key    []byte
	client *http.Client
	now    func() time.Time
}

var _ events.Sender = (*Sender)(nil)

// New returns a sender for cfg, whose secret must parse.
func New(cfg Config) (*Sender, error) {
	key, err := ParseSecret(cfg.Secret)
	if err != nil {
		return nil, err
	}
	return &Sender{
		url: cfg.URL,
		key: key,
		client: &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			// A redirect is not followed: the endpoint is configured, and a
			// signed event goes nowhere else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now: time.Now,
	}, nil
}

// maxResponse bounds what is read of an answer: enough to reuse the
// connection and to quote its start in the event's last_error.
const maxResponse = 64 << 10

// Send posts e, bounded by ctx. A 2xx is success; 408, 429, 5xx, a timeout
// and a connection error may pass later; any other answer is a
// *events.RejectedError.
func (s *Sender) Send(ctx context.Context, e events.Published) error {
	body, err := httpapi.RenderEvent(e.Event)
	if err != nil {
		return err
	}
	id := e.ID.String()
	ts := s.now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return &events.RejectedError{Reason: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "b2b-orders-webhooks/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(s.key, id, ts, body))
	res, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	switch st := res.StatusCode; {
	case st >= 200 && st < 300:
		return nil
	case st == http.StatusRequestTimeout || st == http.StatusTooManyRequests || st >= 500:
		return fmt.Errorf("endpoint answered %d", st)
	default:
		return &events.RejectedError{Status: st, Reason: fmt.Sprintf("endpoint answered %d: %s", st, snippet(answer))}
	}
}

func snippet(b []byte) string {
	s := strings.ToValidUTF8(string(b), "")
	if len(s) > 100 {
		s = strings.ToValidUTF8(s[:100], "")
	}
	return strings.TrimSpace(s)
}
