package workorder

import (
	"context"
	"errors"
	"net/mail"
	"strings"

	"github.com/jackc/pgx/v5"

	"dotmac.dev/field/hub"
	"dotmac.dev/field/hub/outbox"
	"dotmac.dev/field/hub/postgres"
)

// The primary site of a customer is its oldest site.
const customerCols = `c.id, c.number, c.name, coalesce(c.email::text, ''), c.phone, c.address, c.status, c.region, c.service_plan,
	ps.id, ST_Y(ps.geom), ST_X(ps.geom), c.created_at, c.updated_at`

const customerFrom = ` FROM customers c LEFT JOIN LATERAL (SELECT s.id, s.geom FROM sites s WHERE s.customer_id = c.id
	ORDER BY s.created_at, s.id LIMIT 1) ps ON true`

func scanCustomer(row pgx.Row) (*Customer, error) {
	var c Customer
	err := row.Scan(&c.ID, &c.Number, &c.Name, &c.Email, &c.Phone, &c.Address, &c.Status, &c.Region, &c.ServicePlan,
		&c.SiteID, &c.Lat, &c.Lon, &c.CreatedAt, &c.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("customer")
	}
	return &c, err
}

func validateEmail(f hub.Fields, field, v string) {
	if v == "" {
		return
	}
	if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
		f.Add(field, "is not a valid email address")
	}
}

func (in *CustomerCreate) validate() error {
	f := hub.Fields{}
	in.Name = strings.TrimSpace(in.Name)
	in.Email = strings.TrimSpace(in.Email)
	if in.Name == "" {
		f.Add("name", "is required")
	}
	checkLen(f, "name", in.Name, 200)
	checkLen(f, "address", in.Address, 500)
	checkLen(f, "phone", in.Phone, 50)
	validateEmail(f, "email", in.Email)
	checkEnum(f, "status", in.Status, CustomerStatuses)
	checkCoords(f, "", in.Lat, in.Lon)
	return f.Err()
}

// CreateCustomer creates a customer and, with an address or a point, its primary site.
func (s *Service) CreateCustomer(ctx context.Context, in CustomerCreate, actorID string) (*Customer, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	if in.Status == "" {
		in.Status = "active"
	}
	var id string
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		id, err = s.CreateCustomerTx(ctx, tx, in, actorID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.FindCustomerByID(ctx, id)
}

// CreateCustomerTx is CreateCustomer inside tx (demo seeding, imports).
func (s *Service) CreateCustomerTx(ctx context.Context, tx pgx.Tx, in CustomerCreate, actorID string) (string, error) {
	if err := in.validate(); err != nil {
		return "", err
	}
	if in.Status == "" {
		in.Status = "active"
	}
	id := postgres.NewID()
	num, err := postgres.NextNumber(ctx, tx, "customer", "CUS")
	if err != nil {
		return "", err
	}
	var email *string
	if in.Email != "" {
		email = &in.Email
	}
	if _, err := tx.Exec(ctx, `INSERT INTO customers (id, number, name, email, phone, address, status, region, service_plan)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, id, num, in.Name, email, in.Phone, in.Address, in.Status, in.Region, in.ServicePlan); err != nil {
		return "", postgres.Translate(err)
	}
	if in.Address != "" || in.Lat != nil {
		if _, err := insertSite(ctx, tx, &id, "Service address", in.Address, in.Lat, in.Lon, ""); err != nil {
			return "", err
		}
	}
	if err := outbox.Write(ctx, tx, TopicCustomerCreate, "customer", id, actorID, map[string]any{"id": id, "number": num, "name": in.Name}); err != nil {
		return "", err
	}
	return id, nil
}

func insertSite(ctx context.Context, tx pgx.Tx, customerID *string, label, address string, lat, lon *float64, access string) (string, error) {
	id := postgres.NewID()
	_, err := tx.Exec(ctx, `INSERT INTO sites (id, customer_id, label, address, geom, access_notes)
		VALUES ($1, $2, $3, $4, CASE WHEN $5::float8 IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint($6::float8, $5::float8), 4326) END, $7)`,
		id, customerID, label, address, lat, lon, access)
	return id, postgres.Translate(err)
}

// FindCustomerByID returns a customer with its sites.
func (s *Service) FindCustomerByID(ctx context.Context, id string) (*Customer, error) {
	if !postgres.ValidUUID(id) {
		return nil, notFound("customer")
	}
	c, err := scanCustomer(s.DB.Pool.QueryRow(ctx, `SELECT `+customerCols+customerFrom+` WHERE c.id = $1`, id))
	if err != nil {
		return nil, err
	}
	c.Sites, err = s.FindSites(ctx, id)
	return c, err
}

// FindSites lists a customer's sites, primary first.
func (s *Service) FindSites(ctx context.Context, customerID string) ([]Site, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT id, customer_id, label, address, ST_Y(geom), ST_X(geom), access_notes
		FROM sites WHERE customer_id = $1 ORDER BY created_at, id`, customerID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Site, error) {
		var st Site
		err := r.Scan(&st.ID, &st.CustomerID, &st.Label, &st.Address, &st.Lat, &st.Lon, &st.AccessNotes)
		return st, err
	})
}

// FindCustomers lists customers matching f (typeahead: ?q= matches the start of the name, or
// anywhere in number, email, phone and address).
func (s *Service) FindCustomers(ctx context.Context, f CustomerFilter) ([]Customer, int, error) {
	var w where
	if q := strings.TrimSpace(f.Query); q != "" {
		pre := strings.ToLower(likeEscape(q)) + "%"
		any := "%" + likeEscape(q) + "%"
		w.add("(lower(c.name) LIKE ? OR c.name ILIKE ? OR c.number ILIKE ? OR c.email::text ILIKE ? OR c.phone ILIKE ? OR c.address ILIKE ?)",
			pre, any, any, any, any, any)
	}
	if f.Status != "" {
		w.add("c.status = ?", f.Status)
	}
	var total int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM customers c WHERE `+w.sql(), w.args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	order := " ORDER BY c.name, c.id"
	if q := strings.TrimSpace(f.Query); q != "" { // names starting with q first
		order = " ORDER BY (lower(c.name) LIKE " + w.arg(strings.ToLower(likeEscape(q))+"%") + ") DESC, c.name, c.id"
	}
	lim, off := w.arg(f.Limit), w.arg(f.Offset)
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+customerCols+customerFrom+` WHERE `+w.sql()+order+` LIMIT `+lim+` OFFSET `+off, w.args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []Customer{}
	for rows.Next() {
		c, err := scanCustomer(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *c)
	}
	return out, total, rows.Err()
}

// UpdateCustomer changes a customer; address and lat/lon move its primary site.
func (s *Service) UpdateCustomer(ctx context.Context, id string, upd CustomerUpdate, actorID string) (*Customer, error) {
	if !postgres.ValidUUID(id) {
		return nil, notFound("customer")
	}
	f := hub.Fields{}
	if upd.Name != nil {
		*upd.Name = strings.TrimSpace(*upd.Name)
		if *upd.Name == "" {
			f.Add("name", "is required")
		}
		checkLen(f, "name", *upd.Name, 200)
	}
	if upd.Email != nil {
		*upd.Email = strings.TrimSpace(*upd.Email)
		validateEmail(f, "email", *upd.Email)
	}
	if upd.Status != nil {
		if *upd.Status == "" {
			f.Add("status", "must be one of "+strings.Join(CustomerStatuses, ", "))
		}
		checkEnum(f, "status", *upd.Status, CustomerStatuses)
	}
	checkCoords(f, "", upd.Lat, upd.Lon)
	if err := f.Err(); err != nil {
		return nil, err
	}
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var siteID *string
		err := tx.QueryRow(ctx, `SELECT (SELECT s.id FROM sites s WHERE s.customer_id = c.id ORDER BY s.created_at, s.id LIMIT 1)
			FROM customers c WHERE c.id = $1 FOR UPDATE`, id).Scan(&siteID)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("customer")
		} else if err != nil {
			return err
		}
		var email *string
		if upd.Email != nil && *upd.Email != "" {
			email = upd.Email
		}
		if _, err := tx.Exec(ctx, `UPDATE customers SET name = coalesce($2, name),
			email = CASE WHEN $3::boolean THEN $4::citext ELSE email END, phone = coalesce($5, phone), address = coalesce($6, address),
			status = coalesce($7, status), region = coalesce($8, region), service_plan = coalesce($9, service_plan), updated_at = now()
			WHERE id = $1`, id, upd.Name, upd.Email != nil, email, upd.Phone, upd.Address, upd.Status, upd.Region, upd.ServicePlan); err != nil {
			return postgres.Translate(err)
		}
		if upd.Address != nil || upd.Lat != nil {
			if siteID == nil {
				if _, err := insertSite(ctx, tx, &id, "Service address", deref(upd.Address), upd.Lat, upd.Lon, ""); err != nil {
					return err
				}
			} else if _, err := tx.Exec(ctx, `UPDATE sites SET address = coalesce($2, address),
				geom = CASE WHEN $3::float8 IS NULL THEN geom ELSE ST_SetSRID(ST_MakePoint($4::float8, $3::float8), 4326) END,
				updated_at = now() WHERE id = $1`, *siteID, upd.Address, upd.Lat, upd.Lon); err != nil {
				return err
			}
		}
		return outbox.Write(ctx, tx, TopicCustomerUpdate, "customer", id, actorID, map[string]any{"id": id})
	})
	if err != nil {
		return nil, err
	}
	return s.FindCustomerByID(ctx, id)
}

// CreateSite adds a service site to a customer.
func (s *Service) CreateSite(ctx context.Context, customerID string, in SiteCreate, actorID string) (*Site, error) {
	if !postgres.ValidUUID(customerID) {
		return nil, notFound("customer")
	}
	f := hub.Fields{}
	if strings.TrimSpace(in.Address) == "" && in.Lat == nil {
		f.Add("address", "an address or lat/lon is required")
	}
	checkCoords(f, "", in.Lat, in.Lon)
	checkLen(f, "address", in.Address, 500)
	if err := f.Err(); err != nil {
		return nil, err
	}
	var siteID string
	err := s.DB.InTx(ctx, func(tx pgx.Tx) error {
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1)`, customerID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return notFound("customer")
		}
		var err error
		siteID, err = insertSite(ctx, tx, &customerID, in.Label, in.Address, in.Lat, in.Lon, in.AccessNotes)
		if err != nil {
			return err
		}
		return outbox.Write(ctx, tx, TopicCustomerUpdate, "customer", customerID, actorID, map[string]any{"id": customerID, "site_id": siteID})
	})
	if err != nil {
		return nil, err
	}
	sites, err := s.FindSites(ctx, customerID)
	if err != nil {
		return nil, err
	}
	for _, st := range sites {
		if st.ID == siteID {
			return &st, nil
		}
	}
	return nil, notFound("site")
}
