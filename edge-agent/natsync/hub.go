package natsync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"dotmac.dev/field/edge-agent"
	"dotmac.dev/field/sync/change"
	"dotmac.dev/field/sync/checksum"
	"dotmac.dev/field/sync/snapshot"
)

// HubClient calls the hub's HTTP endpoints (PROTOCOL.md sections 1, 3, 5, 7).
type HubClient struct {
	BaseURL string
	Token   string // device token
	HTTP    *http.Client
}

// NewHubClient returns a client for the hub at baseURL authenticating with the device token.
func NewHubClient(baseURL, token string) *HubClient {
	return &HubClient{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// HTTPError is a non-2xx answer of the hub.
type HTTPError struct {
	Status  int
	Code    string
	Message string
	Fields  map[string]string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("natsync: hub answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Permanent reports whether retrying cannot help (a 4xx other than 408 and 429).
func (e *HTTPError) Permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusRequestTimeout && e.Status != http.StatusTooManyRequests
}

// AuthFailed reports a 401 or 403.
func (e *HTTPError) AuthFailed() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

func statusOf(err error) int {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status
	}
	return 0
}

func (h *HubClient) do(ctx context.Context, method, path, bearer string, body io.Reader, contentType string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, h.BaseURL+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	client := h.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", agent.ErrHubUnreachable, err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		return httpError(res)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		return nil
	}
	if w, ok := out.(io.Writer); ok {
		_, err = io.Copy(w, res.Body)
		return err
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// httpError reads the hub's error answer.
func httpError(res *http.Response) *HTTPError {
	he := &HTTPError{Status: res.StatusCode}
	var eb struct {
		Error struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
		he.Code, he.Message, he.Fields = eb.Error.Code, eb.Error.Message, eb.Error.Fields
	} else {
		he.Message = strings.TrimSpace(string(raw))
	}
	return he
}

func (h *HubClient) json(ctx context.Context, method, path, bearer string, in, out any) error {
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	return h.do(ctx, method, path, bearer, body, ct, out)
}

// EnrollRequest is sent with a one-time code.
type EnrollRequest struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	Platform string `json:"platform"`
}

// Enroll exchanges a one-time code for the device's credentials.
func (h *HubClient) Enroll(ctx context.Context, req EnrollRequest) (agent.Credentials, error) {
	var c agent.Credentials
	if err := h.json(ctx, http.MethodPost, "/api/v1/devices/enroll", "", req, &c); err != nil {
		return agent.Credentials{}, err
	}
	if c.HubURL == "" {
		c.HubURL = h.BaseURL
	}
	c.EnrolledAt = time.Now().UTC()
	return c, c.Validate()
}

// Login checks a technician's password with the hub and returns who they are. It implements
// agent.HubAuth.
func (h *HubClient) Login(ctx context.Context, email, password string) (agent.Me, error) {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err := h.json(ctx, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, &tok)
	var he *HTTPError
	switch {
	case errors.As(err, &he) && (he.Status == http.StatusUnauthorized || he.Status == http.StatusBadRequest || he.Status == http.StatusUnprocessableEntity):
		return agent.Me{}, agent.Errorf(agent.EUNAUTHORIZED, "wrong email or password")
	case errors.As(err, &he) && he.Status == http.StatusForbidden:
		return agent.Me{}, agent.Errorf(agent.EFORBIDDEN, "%s", cmpOr(he.Message, "this account may not sign in"))
	case errors.As(err, &he) && he.Status == http.StatusTooManyRequests:
		return agent.Me{}, agent.Errorf(agent.ERATELIMITED, "too many attempts: wait a minute")
	case err != nil:
		return agent.Me{}, fmt.Errorf("%w: %v", agent.ErrHubUnreachable, err)
	}
	var me agent.Me
	if err := h.json(ctx, http.MethodGet, "/api/v1/auth/me", tok.AccessToken, nil, &me); err != nil {
		return agent.Me{}, fmt.Errorf("%w: %v", agent.ErrHubUnreachable, err)
	}
	return me, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// DeviceStatus is GET /api/v1/sync/device.
type DeviceStatus struct {
	ID           string `json:"id"`
	TechnicianID string `json:"technician_id"`
	Status       string `json:"status"`
}

// Device asks the hub about this device (revocation check).
func (h *HubClient) Device(ctx context.Context) (DeviceStatus, error) {
	var d DeviceStatus
	err := h.json(ctx, http.MethodGet, "/api/v1/sync/device", h.Token, nil, &d)
	return d, err
}

// SnapshotPage is one page of a bootstrap snapshot.
type SnapshotPage struct {
	Cursor    change.Cursor     `json:"cursor"`
	Changes   []change.Change   `json:"changes"`
	Next      string            `json:"next"`
	Checksums []*checksum.Table `json:"checksums"`
}

// Snapshot fetches a bootstrap page ("" for the first).
func (h *HubClient) Snapshot(ctx context.Context, page string) (SnapshotPage, error) {
	var p SnapshotPage
	path := "/api/v1/sync/snapshot"
	if page != "" {
		path += "?page=" + url.QueryEscape(page)
	}
	err := h.json(ctx, http.MethodGet, path, h.Token, nil, &p)
	return p, err
}

// Checksums fetches the hub's checksums of the device's scope.
func (h *HubClient) Checksums(ctx context.Context) ([]*checksum.Table, error) {
	var out struct {
		Tables []*checksum.Table `json:"tables"`
	}
	err := h.json(ctx, http.MethodGet, "/api/v1/sync/checksums", h.Token, nil, &out)
	return out.Tables, err
}

// Rows fetches the hub's (id, version) rows of a table in the given buckets.
func (h *HubClient) Rows(ctx context.Context, table string, buckets []int) ([]checksum.Row, error) {
	var out struct {
		Rows []checksum.Row `json:"rows"`
	}
	err := h.json(ctx, http.MethodPost, "/api/v1/sync/rows", h.Token, map[string]any{"table": table, "buckets": buckets}, &out)
	return out.Rows, err
}

// Fetch fetches rows of a table as downstream changes.
func (h *HubClient) Fetch(ctx context.Context, table string, ids []string) ([]change.Change, error) {
	var out struct {
		Changes []change.Change `json:"changes"`
	}
	err := h.json(ctx, http.MethodPost, "/api/v1/sync/fetch", h.Token, map[string]any{"table": table, "ids": ids}, &out)
	return out.Changes, err
}

// PutBlob uploads content by its hash (evidence before the mutations that need it).
func (h *HubClient) PutBlob(ctx context.Context, sum, mime, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("natsync: blob %s: %w", sum, err)
	}
	defer f.Close()
	return h.do(ctx, http.MethodPut, "/api/v1/sync/blobs/"+sum, h.Token, f, mime, nil)
}

// GetBlob downloads content by its hash into w.
func (h *HubClient) GetBlob(ctx context.Context, sum string, w io.Writer) error {
	return h.do(ctx, http.MethodGet, "/api/v1/sync/blobs/"+url.PathEscape(sum), h.Token, nil, "", w)
}

// Bootstrap asks the hub for a snapshot file of the device's scope (PROTOCOL.md §5); the hub
// builds one unless a fresh one exists.
func (h *HubClient) Bootstrap(ctx context.Context) (snapshot.Info, error) {
	var info snapshot.Info
	err := h.json(ctx, http.MethodGet, "/api/v1/sync/bootstrap", h.Token, nil, &info)
	return info, err
}

// ErrSnapshotCorrupt is returned when a downloaded snapshot file does not have the SHA-256 (or the
// size) the hub announced; the partial file is removed.
var ErrSnapshotCorrupt = errors.New("natsync: the snapshot file does not match its SHA-256")

// downloadStall is how long a snapshot download may receive nothing before it is dropped (the
// bytes received so far are kept and the next attempt resumes after them).
const downloadStall = 30 * time.Second

// DownloadSnapshot downloads the snapshot file info describes into path. What path already holds
// is kept: the download resumes after it (Range, with If-Range on the SHA-256, so a hub that
// serves another file starts it over), and the SHA-256 of the whole is checked at the end. A
// download that fails half-way keeps what it received for the next attempt.
func (h *HubClient) DownloadSnapshot(ctx context.Context, info snapshot.Info, path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("natsync: snapshot file: %w", err)
	}
	defer f.Close()
	sum := sha256.New()
	have, err := io.Copy(sum, f) // the offset is now at the end, where the rest goes
	if err != nil {
		return fmt.Errorf("natsync: snapshot file: %w", err)
	}
	restart := func() error {
		sum.Reset()
		have = 0
		if err := f.Truncate(0); err != nil {
			return err
		}
		_, err := f.Seek(0, io.SeekStart)
		return err
	}
	if have > info.Size {
		if err := restart(); err != nil {
			return fmt.Errorf("natsync: snapshot file: %w", err)
		}
	}
	if have < info.Size {
		if err := h.fetchSnapshot(ctx, info, f, sum, &have, restart); err != nil {
			return err
		}
	}
	if have != info.Size || hex.EncodeToString(sum.Sum(nil)) != info.SHA256 {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("%w (%d of %d bytes)", ErrSnapshotCorrupt, have, info.Size)
	}
	return nil
}

// fetchSnapshot GETs the rest of the file after *have bytes and appends it to f.
func (h *HubClient) fetchSnapshot(ctx context.Context, info snapshot.Info, f *os.File, sum hash.Hash, have *int64, restart func() error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(downloadStall, func() { cancel(errors.New("no data for " + downloadStall.String())) })
	defer stall.Stop()
	path := info.URL
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") { // the device token goes to the hub only
		path = "/api/v1/sync/bootstrap/" + url.PathEscape(info.ID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.BaseURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+h.Token)
	if *have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", *have))
		req.Header.Set("If-Range", `"`+info.SHA256+`"`)
	}
	client := http.Client{} // no overall timeout: a big file on a slow link takes its time; stall guards
	if h.HTTP != nil {
		client = *h.HTTP
		client.Timeout = 0
	}
	res, err := client.Do(req)
	if err != nil {
		if c := context.Cause(ctx); c != nil {
			err = c
		}
		return fmt.Errorf("%w: snapshot download: %v", agent.ErrHubUnreachable, err)
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusPartialContent && strings.HasPrefix(res.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", *have)):
	case res.StatusCode == http.StatusOK: // the whole file (the hub ignored the range, or it changed)
		if err := restart(); err != nil {
			return fmt.Errorf("natsync: snapshot file: %w", err)
		}
	case res.StatusCode == http.StatusRequestedRangeNotSatisfiable || res.StatusCode == http.StatusPartialContent:
		if err := restart(); err != nil {
			return fmt.Errorf("natsync: snapshot file: %w", err)
		}
		return fmt.Errorf("natsync: snapshot download: the hub answered %d to a resume; starting over", res.StatusCode)
	default:
		return httpError(res)
	}
	var readErr error
	n, err := io.Copy(io.MultiWriter(f, sum), readFunc(func(p []byte) (int, error) {
		n, err := res.Body.Read(p)
		if n > 0 {
			stall.Reset(downloadStall)
		}
		if err != nil && err != io.EOF {
			readErr = err
		}
		return n, err
	}))
	*have += n
	switch {
	case err == nil:
		return nil
	case err == readErr:
		if c := context.Cause(ctx); c != nil {
			err = c
		}
		return fmt.Errorf("%w: snapshot download: %v", agent.ErrHubUnreachable, err)
	default: // writing the file (a full disk)
		return fmt.Errorf("natsync: snapshot file: %w", err)
	}
}

type readFunc func(p []byte) (int, error)

func (r readFunc) Read(p []byte) (int, error) { return r(p) }
