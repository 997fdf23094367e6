// Package web is the edge agent's local HTTP server: the field API of CONTRACT.md answered from
// the replica (the same JSON shapes as the hub, from sync/field), local login, the sync status,
// health checks, and the PWA embedded at build time.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"dotmac.dev/field/edge-agent"
	"dotmac.dev/field/edge-agent/sqlite"
	"dotmac.dev/field/sync/field"
)

//go:embed all:pwa
var pwaFS embed.FS

//go:embed fallback/index.html
var fallbackIndex []byte

// Server serves the local API and the PWA.
type Server struct {
	DB           *sqlite.DB
	TechnicianID string
	// Hub checks passwords when online; nil means offline logins only.
	Hub agent.HubAuth
	// Sync reports online/last error; nil means offline.
	Sync agent.SyncReporter
	// FetchBlob downloads attachment content this device does not hold (nil: none).
	FetchBlob func(ctx context.Context, sum string, w io.Writer) error
	// Ready reports whether the dependencies answer (for /readyz).
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// LoginTimeout bounds the hub check of a login (0: 5 s).
	LoginTimeout time.Duration
}

// Handler returns the route table.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /readyz", s.handleReady)

	mux.HandleFunc("POST /api/v1/auth/login", s.handleLogin)
	mux.HandleFunc("POST /api/v1/auth/refresh", s.handleRefresh)
	mux.HandleFunc("POST /api/v1/auth/logout", s.authed(s.handleLogout))
	mux.HandleFunc("GET /api/v1/auth/me", s.authed(s.handleMe))

	mux.HandleFunc("GET /api/v1/field/jobs", s.authed(s.handleJobIndex))
	mux.HandleFunc("GET /api/v1/field/jobs/{id}", s.authed(s.handleJobShow))
	mux.HandleFunc("POST /api/v1/field/jobs/{id}/transition", s.authed(s.handleJobTransition))
	mux.HandleFunc("POST /api/v1/field/jobs/{id}/notes", s.authed(s.handleNoteCreate))
	mux.HandleFunc("POST /api/v1/field/jobs/{id}/materials/consume", s.authed(s.handleMaterialsConsume))
	mux.HandleFunc("POST /api/v1/field/jobs/{id}/survey", s.authed(s.handleSurveySubmit))
	mux.HandleFunc("POST /api/v1/field/attachments", s.authed(s.handleAttachmentCreate))
	mux.HandleFunc("GET /api/v1/field/attachments/{id}/content", s.authed(s.handleAttachmentContent))
	mux.HandleFunc("GET /api/v1/field/map-assets", s.authed(s.handleMapAssets))
	mux.HandleFunc("GET /api/v1/field/splice-closures/{id}", s.authed(s.handleSpliceClosureShow))

	mux.HandleFunc("GET /api/v1/sync/status", s.authed(s.handleSyncStatus))
	mux.HandleFunc("GET /api/v1/sync/conflicts", s.authed(s.handleConflictIndex))

	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, agent.Errorf(agent.ENOTFOUND, "no such endpoint"))
	})
	mux.Handle("/", s.pwa())
	return s.recoverer(mux)
}

type ctxKey struct{}

// person returns the signed-in person of a request.
func person(r *http.Request) string { v, _ := r.Context().Value(ctxKey{}).(string); return v }

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		if tok == "" {
			s.writeError(w, r, agent.Errorf(agent.EUNAUTHORIZED, "sign in first"))
			return
		}
		p, err := s.DB.Authenticate(r.Context(), tok)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
	}
}

func (s *Server) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				s.Logger.Error("panic", "path", r.URL.Path, "panic", v)
				s.writeError(w, r, errors.New("panic"))
			}
		}()
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError is the one place errors become HTTP statuses.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *agent.Error
	switch {
	case errors.As(err, &e):
	case sqlite.IsBusy(err):
		s.Logger.Warn("replica busy", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &agent.Error{Code: agent.EUNAVAILABLE, Message: "this tablet is updating its copy of your jobs: nothing was saved yet, it will be tried again in a few seconds"}
	default:
		s.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &agent.Error{Code: agent.EINTERNAL, Message: "something went wrong on this tablet"}
	}
	status := e.Status
	if status == 0 {
		status = map[string]int{
			agent.EINVALID: http.StatusBadRequest, agent.EUNAUTHORIZED: http.StatusUnauthorized,
			agent.EFORBIDDEN: http.StatusForbidden, agent.ENOTFOUND: http.StatusNotFound,
			agent.ECONFLICT: http.StatusConflict, agent.ERATELIMITED: http.StatusTooManyRequests,
			agent.EUNAVAILABLE: http.StatusServiceUnavailable,
		}[e.Code]
		if status == 0 {
			status = http.StatusInternalServerError
		}
	}
	switch status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "60")
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, status, field.ErrorResponse{Error: field.ErrorBody{Code: e.Code, Message: e.Message, Fields: e.Fields}})
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		return agent.Errorf(agent.EINVALID, "the body is not valid JSON: %v", err)
	}
	return nil
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	err := s.DB.Ping(ctx)
	if err == nil && s.Ready != nil {
		err = s.Ready(ctx)
	}
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// pwa serves the embedded app, falling back to index.html for client routes, or a small page
// explaining how to build it when the build is absent.
func (s *Server) pwa() http.Handler {
	sub, _ := fs.Sub(pwaFS, "pwa")
	_, err := fs.Stat(sub, "index.html")
	built := err == nil
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !built {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(fallbackIndex)
			return
		}
		p := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if p == "" {
			p = "index.html"
		}
		if st, err := fs.Stat(sub, p); err != nil || st.IsDir() || p == ".keep" {
			if path.Ext(p) != "" && p != "index.html" {
				http.NotFound(w, r)
				return
			}
			r = r.Clone(r.Context())
			r.URL.Path = "/"
		}
		if p == "sw.js" || p == "index.html" || r.URL.Path == "/" {
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
}

func serveFile(w http.ResponseWriter, r *http.Request, mime, p string) {
	f, err := os.Open(p)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, _ := f.Stat()
	w.Header().Set("Content-Type", mime)
	w.Header().Set("Cache-Control", "private, max-age=86400")
	http.ServeContent(w, r, "", st.ModTime(), f)
}
