package httpapi

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/b2borders/platform/core/errs"
)

// routedMethods are the methods routes are registered for; HEAD and
// OPTIONS are answered for every route by methods.
var routedMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// withMethod returns a shallow copy of r that asks for method.
func withMethod(r *http.Request, method string) *http.Request {
	c := *r
	c.Method = method
	return &c
}

// allowed lists the methods the path of r is served for, in the form of
// an Allow header ("" for a path no route knows), and the template of a
// route that serves it.
func allowed(router *mux.Router, r *http.Request) (allow, route string) {
	var out []string
	for _, m := range routedMethods {
		var match mux.RouteMatch
		if !router.Match(withMethod(r, m), &match) || match.MatchErr != nil {
			continue
		}
		out = append(out, m)
		if m == http.MethodGet {
			out = append(out, http.MethodHead)
		}
		if route == "" && match.Route != nil {
			route, _ = match.Route.GetPathTemplate()
		}
	}
	if len(out) == 0 {
		return "", ""
	}
	return strings.Join(append(out, http.MethodOptions), ", "), route
}

// methodNotAllowedHandler answers a known path asked with a method it is not
// served for: 405, with the methods it is served for in Allow.
func methodNotAllowedHandler(router *mux.Router, fail errorWriter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allow, _ := allowed(router, r); allow != "" {
			w.Header().Set("Allow", allow)
		}
		fail(w, r, errs.New(methodNotAllowed, "%s is not allowed on %s", r.Method, r.URL.Path))
	})
}

// methods serves the methods every route has without registering them:
// HEAD wherever GET is served, answered as the GET would be (net/http
// sends no body for a HEAD), and OPTIONS on every known path, answered 204
// with Allow and without authentication, as it reveals no more than a 405
// does. Everything else goes to the router.
func methods(router *mux.Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodHead:
			get := withMethod(r, http.MethodGet)
			var match mux.RouteMatch
			if router.Match(get, &match) && match.MatchErr == nil {
				router.ServeHTTP(w, get)
				return
			}
		case http.MethodOptions:
			if allow, route := allowed(router, r); allow != "" {
				if x := exchangeOf(r.Context()); x != nil && route != "" {
					x.route = route
				}
				w.Header().Set("Allow", allow)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		router.ServeHTTP(w, r)
	})
}
