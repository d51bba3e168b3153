package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/b2borders/platform/core/correlation"
	"github.com/b2borders/platform/core/errs"
)

// ProbeTimeout bounds each service's answer to a readiness probe: a service
// slower than that to say it is alive counts as down.
const ProbeTimeout = time.Second

// upstream is a service the orchestrator calls.
type upstream struct {
	name, baseURL string
}

var probeClient = &http.Client{Timeout: ProbeTimeout}

// upstreamsReady reports the orchestrator ready while every service it
// calls answers GET /health within ProbeTimeout. It asks for liveness, not
// readiness: a service that is up but has lost its own database answers the
// orchestrator's calls with a 503 of its own, which says more than this
// probe could. The services are asked at once.
func upstreamsReady(services ...upstream) func(context.Context) error {
	return func(ctx context.Context) error {
		causes := make([]error, len(services))
		var wg sync.WaitGroup
		for i, s := range services {
			wg.Go(func() { causes[i] = probe(ctx, s) })
		}
		wg.Wait()
		var down []string
		for i, err := range causes {
			if err != nil {
				down = append(down, services[i].name)
			}
		}
		if len(down) == 0 {
			return nil
		}
		// The client is told which services failed; the causes are for
		// the log.
		verb := "does"
		if len(down) > 1 {
			verb = "do"
		}
		return fmt.Errorf("%w: %v", errs.New(errs.DependencyUnavailable, "%s %s not answer", strings.Join(down, " and "), verb),
			errors.Join(causes...))
	}
}

// probe asks one service's /health and returns why it is not alive, or nil.
func probe(ctx context.Context, s upstream) error {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(s.baseURL, "/")+"/health", nil)
	if err != nil {
		return err
	}
	if id := correlation.ID(ctx); id != "" {
		req.Header.Set("X-Request-ID", id)
		req.Header.Set("X-Correlation-ID", id)
	}
	res, err := probeClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: GET /health answered %d", s.name, res.StatusCode)
	}
	return nil
}
