package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
)

type loginBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Server) handleAPILogin(c *gin.Context) {
	var b loginBody
	if err := BindJSON(c, &b); err != nil {
		Error(c, err)
		return
	}
	if !s.loginLimit(c, b.Email) {
		return
	}
	sess, refresh, err := s.Auth.Login(c.Request.Context(), hub.LoginRequest{Email: b.Email, Password: b.Password,
		Portal: hub.PortalAPI, IP: c.ClientIP(), UserAgent: c.Request.UserAgent()})
	if err != nil {
		Error(c, err)
		return
	}
	s.writeTokens(c, sess, refresh)
}

func (s *Server) writeTokens(c *gin.Context, sess *hub.Session, refresh string) {
	access, err := s.Keys.Issue(sess.PersonID, sess.ID, string(sess.Portal), s.now())
	if err != nil {
		Error(c, err)
		return
	}
	c.JSON(http.StatusOK, hub.Tokens{AccessToken: access, RefreshToken: refresh, TokenType: "bearer", ExpiresIn: int(s.Keys.TTL.Seconds())})
}

func (s *Server) handleAPIRefresh(c *gin.Context) {
	var b struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := BindJSON(c, &b); err != nil {
		Error(c, err)
		return
	}
	if b.RefreshToken == "" {
		Error(c, hub.Invalid(map[string]string{"refresh_token": "is required"}))
		return
	}
	if !s.loginLimit(c, "") {
		return
	}
	sess, refresh, err := s.Auth.Refresh(c.Request.Context(), b.RefreshToken, c.ClientIP())
	if err != nil {
		Error(c, err)
		return
	}
	s.writeTokens(c, sess, refresh)
}

func (s *Server) handleAPILogout(c *gin.Context) {
	p := hub.PrincipalFrom(c.Request.Context())
	if err := s.Auth.Logout(c.Request.Context(), p.SessionID); err != nil {
		Error(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type meResponse struct {
	ID          string   `json:"id"`
	Email       string   `json:"email"`
	DisplayName string   `json:"display_name"`
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"`
}

func (s *Server) handleAPIMe(c *gin.Context) {
	p := hub.PrincipalFrom(c.Request.Context())
	c.JSON(http.StatusOK, meResponse{ID: p.PersonID, Email: p.Email, DisplayName: p.DisplayName, Roles: p.Roles, Permissions: p.Permissions})
}
