package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"dotmac.dev/field/edge-agent"
)

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// handleLogin signs the technician in: checked with the hub when it answers, against the cached
// hash when it does not. Only the technician this tablet is enrolled for may sign in.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if strings.TrimSpace(req.Email) == "" || req.Password == "" {
		s.writeError(w, r, &agent.Error{Code: agent.EINVALID, Message: "email and password are required",
			Fields: map[string]string{"email": "required", "password": "required"}, Status: http.StatusUnprocessableEntity})
		return
	}
	me, err := s.login(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tok, err := s.DB.CreateSession(r.Context(), me.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tok)
}

func (s *Server) login(ctx context.Context, req loginRequest) (agent.Me, error) {
	var me agent.Me
	err := agent.ErrHubUnreachable
	if s.Hub != nil {
		timeout := s.LoginTimeout
		if timeout <= 0 {
			timeout = 5 * time.Second
		}
		hctx, cancel := context.WithTimeout(ctx, timeout)
		me, err = s.Hub.Login(hctx, req.Email, req.Password)
		cancel()
	}
	switch {
	case err == nil:
		if me.ID != s.TechnicianID {
			return agent.Me{}, agent.Errorf(agent.EFORBIDDEN, "this tablet is enrolled for another technician")
		}
		if err := s.DB.CacheCredentials(ctx, req.Email, req.Password, me); err != nil {
			return agent.Me{}, err
		}
		return me, nil
	case errors.Is(err, agent.ErrHubUnreachable):
		me, err = s.DB.CheckCachedCredentials(ctx, req.Email, req.Password)
		if err != nil {
			return agent.Me{}, err
		}
		if me.ID != s.TechnicianID {
			return agent.Me{}, agent.Errorf(agent.EFORBIDDEN, "this tablet is enrolled for another technician")
		}
		return me, nil
	case agent.ErrorCode(err) == agent.EUNAUTHORIZED:
		_ = s.DB.ForgetCredentials(ctx, req.Email)
	}
	return agent.Me{}, err
}

func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	tok, err := s.DB.Refresh(r.Context(), req.RefreshToken)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tok)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := s.DB.Logout(r.Context(), bearer(r)); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	me, err := s.DB.CachedMe(r.Context(), person(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if me.Roles == nil {
		me.Roles = []string{}
	}
	if me.Permissions == nil {
		me.Permissions = []string{}
	}
	writeJSON(w, http.StatusOK, me)
}
