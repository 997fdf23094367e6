package syncsvc

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"

	"github.com/gin-gonic/gin"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/web"
	"dotmac.dev/field/sync/field"
)

var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// BlobDir is where attachment bytes live, by SHA-256: DataDir/attachments/ab/abcdef….
// (field_attachments.storage_key is the hex SHA-256.)
func (s *Service) blobPath(sum string) string {
	return filepath.Join(s.dataDir, "attachments", sum[:2], sum)
}

// handleBlobPut stores attachment bytes uploaded before the mutation that needs them
// (PROTOCOL.md §3): 201 stored, 200 already held; the hash is checked.
func (a *Area) handleBlobPut(c *gin.Context, d *deviceAuth) {
	sum := c.Param("sha256")
	if !sha256RE.MatchString(sum) || a.Svc.dataDir == "" {
		web.Error(c, hub.Invalid(map[string]string{"sha256": "the path must end with the lower-case hex SHA-256 of the bytes"}))
		return
	}
	path := a.Svc.blobPath(sum)
	if _, err := os.Stat(path); err == nil {
		c.JSON(http.StatusOK, gin.H{"sha256": sum, "stored": false})
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		web.Error(c, err)
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".upload-*")
	if err != nil {
		web.Error(c, err)
		return
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(c.Request.Body, field.MaxAttachmentBytes+1))
	tmp.Close()
	if err != nil {
		web.Error(c, hub.Errorf(hub.EINVALID, "the upload was cut short: %v", err))
		return
	}
	if n > field.MaxAttachmentBytes || n == 0 {
		web.Error(c, hub.Invalid(map[string]string{"file": "an attachment is 1 byte to 5 MB"}))
		return
	}
	if hex.EncodeToString(h.Sum(nil)) != sum {
		web.Error(c, hub.Invalid(map[string]string{"sha256": "the bytes do not have this SHA-256"}))
		return
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		web.Error(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"sha256": sum, "stored": true, "size": n})
}

// handleBlobGet serves (or, for HEAD, checks) attachment bytes by SHA-256.
func (a *Area) handleBlobGet(c *gin.Context, d *deviceAuth) {
	sum := c.Param("sha256")
	if !sha256RE.MatchString(sum) || a.Svc.dataDir == "" {
		web.Error(c, hub.Errorf(hub.ENOTFOUND, "blob not found"))
		return
	}
	f, err := os.Open(a.Svc.blobPath(sum))
	if err != nil {
		web.Error(c, hub.Errorf(hub.ENOTFOUND, "blob not found"))
		return
	}
	defer f.Close()
	st, _ := f.Stat()
	c.Header("ETag", `"`+sum+`"`)
	c.Header("Content-Type", "application/octet-stream")
	http.ServeContent(c.Writer, c.Request, sum, st.ModTime(), f)
}
