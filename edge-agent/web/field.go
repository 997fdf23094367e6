package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"dotmac.dev/field/edge-agent"
	"dotmac.dev/field/edge-agent/sqlite"
	"dotmac.dev/field/sync/field"
)

func (s *Server) handleJobIndex(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := sqlite.JobFilter{Statuses: sqlite.ParseStatuses(q.Get("status")), Limit: 200}
	for _, p := range []struct {
		key string
		dst **time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(p.key); v != "" {
			t, err := parseTimeOrDate(v)
			if err != nil {
				s.writeError(w, r, &agent.Error{Code: agent.EINVALID, Message: p.key + " must be an RFC 3339 time or a date", Fields: map[string]string{p.key: "bad time"}})
				return
			}
			*p.dst = &t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, &agent.Error{Code: agent.EINVALID, Message: "limit must be 1 to 1000", Fields: map[string]string{"limit": "1 to 1000"}})
			return
		}
		f.Limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.writeError(w, r, &agent.Error{Code: agent.EINVALID, Message: "offset must be 0 or more", Fields: map[string]string{"offset": "0 or more"}})
			return
		}
		f.Offset = n
	}
	items, total, err := s.DB.FindJobs(r.Context(), person(r), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, field.List[field.JobSummary]{Items: items, Total: total, Limit: f.Limit, Offset: f.Offset})
}

func parseTimeOrDate(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", v)
}

func (s *Server) handleJobShow(w http.ResponseWriter, r *http.Request) {
	j, err := s.DB.FindJob(r.Context(), person(r), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) handleJobTransition(w http.ResponseWriter, r *http.Request) {
	var req field.TransitionRequest
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.DB.Transition(r.Context(), person(r), r.PathValue("id"), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleNoteCreate(w http.ResponseWriter, r *http.Request) {
	var req field.NoteRequest
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	me, _ := s.DB.CachedMe(r.Context(), person(r))
	note, created, err := s.DB.AddNote(r.Context(), person(r), me.DisplayName, r.PathValue("id"), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, note)
}

func (s *Server) handleMaterialsConsume(w http.ResponseWriter, r *http.Request) {
	var req field.ConsumeRequest
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.DB.Consume(r.Context(), person(r), r.PathValue("id"), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleSurveySubmit(w http.ResponseWriter, r *http.Request) {
	var req field.SurveyRequest
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.DB.SubmitSurvey(r.Context(), person(r), r.PathValue("id"), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func optFloat(v string) (*float64, error) {
	if v == "" {
		return nil, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return nil, err
	}
	return &f, nil
}

func (s *Server) handleAttachmentCreate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, field.MaxAttachmentBytes+1<<20)
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		s.writeError(w, r, &agent.Error{Code: agent.EINVALID, Message: "the upload is not a valid multipart form or is too large",
			Fields: map[string]string{"file": fmt.Sprintf("at most %d MB", field.MaxAttachmentBytes>>20)}, Status: http.StatusUnprocessableEntity})
		return
	}
	in := sqlite.AttachmentInput{AttachmentUpload: field.AttachmentUpload{
		Kind: r.FormValue("kind"), WorkOrderID: r.FormValue("work_order_id"), ClientRef: r.FormValue("client_ref"),
		SignerName: r.FormValue("signer_name"),
	}}
	bad := map[string]string{}
	if v := r.FormValue("captured_at"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			bad["captured_at"] = "captured_at must be an RFC 3339 time"
		}
		in.CapturedAt = &t
	}
	var err error
	if in.Lat, err = optFloat(r.FormValue("lat")); err != nil {
		bad["lat"] = "lat must be a number"
	}
	if in.Lon, err = optFloat(r.FormValue("lon")); err != nil {
		bad["lon"] = "lon must be a number"
	}
	file, hdr, err := r.FormFile("file")
	if err == nil {
		defer file.Close()
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, io.LimitReader(file, field.MaxAttachmentBytes+1)); err != nil {
			bad["file"] = "the file could not be read"
		}
		in.Content, in.FileName = buf.Bytes(), hdr.Filename
		in.MIME = http.DetectContentType(in.Content)
		if ct := hdr.Header.Get("Content-Type"); strings.HasPrefix(in.MIME, "text/plain") && ct == "application/pdf" {
			in.MIME = ct
		}
	}
	if len(bad) > 0 {
		s.writeError(w, r, &agent.Error{Code: agent.EINVALID, Message: "the upload is not valid", Fields: bad, Status: http.StatusUnprocessableEntity})
		return
	}
	att, created, err := s.DB.AddAttachment(r.Context(), person(r), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, att)
}

func (s *Server) handleAttachmentContent(w http.ResponseWriter, r *http.Request) {
	mime, p, key, err := s.DB.AttachmentContent(r.Context(), person(r), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if p == "" && s.FetchBlob != nil && key != "" {
		var buf bytes.Buffer
		if err := s.FetchBlob(r.Context(), key, &buf); err == nil {
			if sum, err := s.DB.PutBlob(buf.Bytes()); err == nil && sum == key {
				p = s.DB.BlobPath(sum)
			}
		}
	}
	if p == "" {
		s.writeError(w, r, agent.Errorf(agent.ENOTFOUND, "the content is not on this tablet yet"))
		return
	}
	if _, err := os.Stat(p); err != nil {
		s.writeError(w, r, agent.Errorf(agent.ENOTFOUND, "the content is not on this tablet yet"))
		return
	}
	serveFile(w, r, mime, p)
}

func (s *Server) handleMapAssets(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(r.URL.Query().Get("bbox"), ",")
	var b [4]float64
	err := errors.New("bbox is required")
	if len(parts) == 4 {
		err = nil
		for i, p := range parts {
			if b[i], err = strconv.ParseFloat(strings.TrimSpace(p), 64); err != nil {
				break
			}
		}
	}
	if err != nil || b[0] > b[2] || b[1] > b[3] {
		s.writeError(w, r, &agent.Error{Code: agent.EINVALID, Message: "bbox must be minLon,minLat,maxLon,maxLat", Fields: map[string]string{"bbox": "minLon,minLat,maxLon,maxLat"}})
		return
	}
	fc, err := s.DB.MapAssets(r.Context(), b[0], b[1], b[2], b[3])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/geo+json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(fc)
}

func (s *Server) handleSpliceClosureShow(w http.ResponseWriter, r *http.Request) {
	c, err := s.DB.FindSpliceClosure(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) handleSyncStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.DB.Status(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.Sync != nil {
		ss := s.Sync.SyncState()
		st.Online, st.LastError = ss.Online, nil
		if ss.LastError != "" {
			st.LastError = &ss.LastError
		}
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleConflictIndex(w http.ResponseWriter, r *http.Request) {
	cs, err := s.DB.Conflicts(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, field.List[sqlite.Conflict]{Items: cs, Total: len(cs), Limit: len(cs)})
}
