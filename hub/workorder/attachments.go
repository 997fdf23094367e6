package workorder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/postgres"
	"dotmac.dev/field/sync/field"
)

// MaxAttachmentBytes is the largest attachment the hub takes (10 MiB).
const MaxAttachmentBytes = 10 << 20

// AttachmentMIMEs are the accepted (sniffed) attachment types.
var AttachmentMIMEs = []string{"image/jpeg", "image/png", "image/webp", "application/pdf"}

// AttachmentInput is an upload: the form fields of POST /api/v1/field/attachments and the file.
type AttachmentInput struct {
	Kind        string
	WorkOrderID string
	ClientRef   string
	CapturedAt  *time.Time
	Lat, Lon    *float64
	SignerName  string
	FileName    string
	// Content is the file; at most MaxAttachmentBytes are read (more is a 413).
	Content io.Reader
	// FormerHolder lets the actor's upload arrive although the job was reassigned away from them
	// while their device was offline (the sync upload applier: evidence is a field fact).
	FormerHolder bool
}

// ErrTooLarge is returned for a file over MaxAttachmentBytes (web.Error answers 413).
var ErrTooLarge = &http.MaxBytesError{Limit: MaxAttachmentBytes}

// AddAttachment stores a photo, signature or document on a job in the caller's scope (primary
// or crew). The type is sniffed from the bytes (JPEG, PNG, WebP, PDF); the file is kept once per
// content under DataDir/attachments/<sha256[:2]>/<sha256>. The same client_ref again returns the
// stored attachment with created false.
func (s *Service) AddAttachment(ctx context.Context, actorID, deviceID string, in AttachmentInput) (*field.Attachment, bool, error) {
	f := hub.Fields{}
	if !slices.Contains([]string{field.KindPhoto, field.KindSignature, field.KindDocument}, in.Kind) {
		f.Add("kind", "must be photo, signature or document")
	}
	if in.WorkOrderID == "" {
		f.Add("work_order_id", "is required")
	} else {
		checkUUID(f, "work_order_id", &in.WorkOrderID)
	}
	if in.ClientRef == "" {
		f.Add("client_ref", "is required")
	} else {
		checkUUID(f, "client_ref", &in.ClientRef)
	}
	if deviceID != "" && !postgres.ValidUUID(deviceID) {
		f.Add("device_id", "must be a UUID")
	}
	checkCoords(f, "", in.Lat, in.Lon)
	checkLen(f, "signer_name", in.SignerName, 200)
	in.FileName = filepath.Base(strings.ReplaceAll(in.FileName, `\`, "/"))
	if in.FileName == "." || in.FileName == "/" {
		in.FileName = ""
	}
	if len(in.FileName) > 255 {
		in.FileName = in.FileName[:255]
	}
	if in.Content == nil {
		f.Add("file", "is required")
	}
	if err := f.Err(); err != nil {
		return nil, false, err
	}
	data, err := io.ReadAll(io.LimitReader(in.Content, MaxAttachmentBytes+1))
	if err != nil {
		return nil, false, err
	}
	if len(data) > MaxAttachmentBytes {
		return nil, false, ErrTooLarge
	}
	if len(data) == 0 {
		return nil, false, hub.Invalid(map[string]string{"file": "is empty"})
	}
	mime := http.DetectContentType(data)
	if i := strings.IndexByte(mime, ';'); i >= 0 {
		mime = mime[:i]
	}
	if !slices.Contains(AttachmentMIMEs, mime) {
		return nil, false, &hub.Error{Code: hub.EUNPROCESSABLE, Message: "this file type is not accepted",
			Fields: map[string]string{"file": fmt.Sprintf("is %s; use JPEG, PNG, WebP or PDF", mime)}}
	}
	if in.Kind != field.KindDocument && mime == "application/pdf" {
		return nil, false, &hub.Error{Code: hub.EUNPROCESSABLE, Message: "a photo or signature must be an image",
			Fields: map[string]string{"file": "is a PDF; upload it as kind document"}}
	}
	sum := sha256.Sum256(data)
	key := hex.EncodeToString(sum[:])
	if !postgres.ValidUUID(actorID) {
		return nil, false, errJobNotFound
	}
	var out *field.Attachment
	created := false
	err = s.DB.InTx(ctx, func(tx pgx.Tx) error {
		replay := func() (bool, error) {
			var woID *string
			var uploader *string
			var id string
			err := tx.QueryRow(ctx, `SELECT id, work_order_id, uploaded_by FROM field_attachments WHERE client_ref = $1`, in.ClientRef).Scan(&id, &woID, &uploader)
			if errors.Is(err, pgx.ErrNoRows) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			if woID == nil || *woID != in.WorkOrderID {
				return false, &hub.Error{Code: hub.ECONFLICT, Message: "client_ref was already used for another upload", Fields: map[string]string{"client_ref": "already used"}}
			}
			if (uploader == nil || *uploader != actorID) && !in.FormerHolder {
				if role, err := RoleOf(ctx, tx, *woID, actorID); err != nil || role == RoleNone {
					if err == nil {
						err = errJobNotFound
					}
					return false, err
				}
			}
			a, err := findAttachment(ctx, tx, id)
			out = a
			return err == nil, err
		}
		if ok, err := replay(); ok || err != nil {
			return err
		}
		role, err := RoleOf(ctx, tx, in.WorkOrderID, actorID)
		if err != nil {
			return err
		}
		if role == RoleNone && !in.FormerHolder {
			return errJobNotFound
		}
		l, err := lockWO(ctx, tx, in.WorkOrderID)
		if err != nil {
			return errJobNotFound
		}
		if ok, err := replay(); ok || err != nil {
			return err
		}
		if err := s.storeBlob(key, data); err != nil {
			return err
		}
		id := postgres.NewID()
		if _, err := tx.Exec(ctx, `INSERT INTO field_attachments (id, work_order_id, kind, storage_key, file_name, mime, size, lat, lon,
			captured_at, signer_name, uploaded_by, client_ref, device_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			id, in.WorkOrderID, in.Kind, key, in.FileName, mime, len(data), in.Lat, in.Lon, in.CapturedAt, in.SignerName, actorID,
			in.ClientRef, nilIfEmpty(&deviceID)); err != nil {
			return postgres.Translate(err)
		}
		if err := bump(ctx, tx, l); err != nil {
			return err
		}
		p := l.payload()
		p.AttachmentID, p.DeviceID = id, deviceID
		if err := writeEvent(ctx, tx, TopicAttachment, actorID, p); err != nil {
			return err
		}
		out, err = findAttachment(ctx, tx, id)
		created = true
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return out, created, nil
}

func findAttachment(ctx context.Context, q Querier, id string) (*field.Attachment, error) {
	rows, err := q.Query(ctx, `SELECT id, kind, file_name, mime, size, captured_at, client_ref::text, signer_name, lat, lon
		FROM field_attachments WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	a, err := pgx.CollectExactlyOneRow(rows, scanAttachment)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("attachment")
	}
	return &a, err
}

func (s *Service) blobPath(key string) string {
	return filepath.Join(s.DataDir, "attachments", key[:2], key)
}

// storeBlob writes data under its hash once (temp file + rename, so readers never see half a file).
func (s *Service) storeBlob(key string, data []byte) error {
	p := s.blobPath(key)
	if st, err := os.Stat(p); err == nil && st.Size() == int64(len(data)) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, bytes.NewReader(data)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// AttachmentFile is an attachment's bytes and how to serve them.
type AttachmentFile struct {
	Path     string
	MIME     string
	FileName string
	Size     int64
	Key      string
}

// AttachmentContent returns the file of an attachment the caller may see: a technician on the job
// (primary or crew), or staff (staff true: the caller holds operations:work_order:read).
func (s *Service) AttachmentContent(ctx context.Context, actorID, id string, staff bool) (*AttachmentFile, error) {
	if !postgres.ValidUUID(id) {
		return nil, notFound("attachment")
	}
	var woID *string
	var af AttachmentFile
	err := s.DB.Pool.QueryRow(ctx, `SELECT a.work_order_id, a.storage_key, a.mime, a.file_name, a.size FROM field_attachments a
		LEFT JOIN work_orders w ON w.id = a.work_order_id WHERE a.id = $1 AND a.is_active AND (w.id IS NULL OR w.is_active)`, id).
		Scan(&woID, &af.Key, &af.MIME, &af.FileName, &af.Size)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("attachment")
	}
	if err != nil {
		return nil, err
	}
	if !staff {
		if woID == nil {
			return nil, notFound("attachment")
		}
		role, err := RoleOf(ctx, s.DB.Pool, *woID, actorID)
		if err != nil {
			return nil, err
		}
		if role == RoleNone {
			return nil, notFound("attachment")
		}
	}
	af.Path = s.blobPath(af.Key)
	if _, err := os.Stat(af.Path); err != nil {
		return nil, fmt.Errorf("workorder: attachment %s: file missing: %w", id, err)
	}
	return &af, nil
}

// WorkOrderAttachments lists a work order's attachments for staff pages.
func (s *Service) WorkOrderAttachments(ctx context.Context, woID string) ([]field.Attachment, error) {
	return fieldAttachments(ctx, s.DB.Pool, woID)
}
