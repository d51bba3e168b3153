// Package customer is the customer directory: who may place orders. A
// customer is soft deleted, after which it is unknown and its email is free.
package customer

import (
	"context"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/page"
)

// Customer is a buyer known to the platform.
type Customer struct {
	ID        uuid.UUID
	Name      string
	Email     string
	Phone     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Fields is the writable part of a customer, as created or fully replaced.
type Fields struct {
	Name  string
	Email string
	Phone string
}

// Patch changes only the fields it sets.
type Patch struct {
	Name  *string
	Email *string
	Phone *string
}

// Query filters a customer search; Search matches name, email or phone.
type Query struct {
	Search string
	Page   page.Request
}

// Repository stores customers. Deleted customers are invisible to every
// method: Get, Update and Delete answer errs.NotFound for them.
type Repository interface {
	// Create stores c; errs.EmailTaken when a live customer has its email.
	// Emails compare byte for byte, as the use cases lower-case them: no
	// accent folding, so "josé@x.example" is not "jose@x.example".
	Create(ctx context.Context, c Customer) error
	Get(ctx context.Context, id uuid.UUID) (Customer, error)
	Search(ctx context.Context, q Query) (page.Page[Customer], error)
	// Update applies fn to the current customer and stores the result
	// atomically; errs.EmailTaken when the new email belongs to another.
	Update(ctx context.Context, id uuid.UUID, fn func(*Customer) error) (Customer, error)
	Delete(ctx context.Context, id uuid.UUID, at time.Time) error
}

// Limits on field lengths, in characters.
const (
	MaxName  = 100
	MaxEmail = 254
	MaxPhone = 20
)

// normalize trims the fields and lower-cases the email, so that
// "Ops@Acme.com" and "ops@acme.com " are one address. An email that is not
// valid UTF-8 is left as it is, for validation to refuse: lower-casing
// would replace its bad bytes.
func (f Fields) normalize() Fields {
	email := strings.TrimSpace(f.Email)
	if utf8.ValidString(email) {
		email = strings.ToLower(email)
	}
	return Fields{Name: strings.TrimSpace(f.Name), Email: email, Phone: strings.TrimSpace(f.Phone)}
}

// Validate reports every invalid field at once, as Create and Replace see
// the fields: trimmed, the email lower-cased.
func (f Fields) Validate() error {
	f = f.normalize()
	var fe errs.Fields
	validName(&fe, f.Name)
	validEmail(&fe, f.Email)
	validPhone(&fe, f.Phone)
	return fe.Err()
}

// Validate reports every invalid field the patch sets, at once, as Update
// sees them; a patch must set a field.
func (p Patch) Validate() error {
	var fe errs.Fields
	if p.Name == nil && p.Email == nil && p.Phone == nil {
		fe.Add("body", "must set at least one of name, email, phone")
		return fe.Err()
	}
	f := p.fields()
	if p.Name != nil {
		validName(&fe, f.Name)
	}
	if p.Email != nil {
		validEmail(&fe, f.Email)
	}
	if p.Phone != nil {
		validPhone(&fe, f.Phone)
	}
	return fe.Err()
}

// fields returns what p sets, normalized; unset fields are empty.
func (p Patch) fields() Fields {
	var f Fields
	if p.Name != nil {
		f.Name = *p.Name
	}
	if p.Email != nil {
		f.Email = *p.Email
	}
	if p.Phone != nil {
		f.Phone = *p.Phone
	}
	return f.normalize()
}

func validName(fe *errs.Fields, name string) {
	if !fe.Text("name", name) {
		return
	}
	if n := utf8.RuneCountInString(name); n < 1 || n > MaxName {
		fe.Add("name", "must be 1 to %d characters", MaxName)
	}
}

func validEmail(fe *errs.Fields, email string) {
	switch {
	case !fe.Text("email", email):
	case email == "":
		fe.Add("email", "is required")
	case utf8.RuneCountInString(email) > MaxEmail:
		fe.Add("email", "must be at most %d characters", MaxEmail)
	default:
		a, err := mail.ParseAddress(email)
		if err != nil || a.Address != email || !strings.Contains(email[strings.LastIndexByte(email, '@'):], ".") {
			fe.Add("email", "must be a valid email address")
		}
	}
}

func validPhone(fe *errs.Fields, phone string) {
	if !fe.Text("phone", phone) {
		return
	}
	if utf8.RuneCountInString(phone) > MaxPhone {
		fe.Add("phone", "must be at most %d characters", MaxPhone)
		return
	}
	for _, r := range phone {
		if !strings.ContainsRune("0123456789+-() .", r) {
			fe.Add("phone", "may hold only digits, spaces and + - ( ) .")
			return
		}
	}
}

// Service is the customer use cases.
type Service struct {
	repo  Repository
	clock func() time.Time
}

// NewService returns the use cases over repo.
func NewService(repo Repository) *Service {
	return &Service{repo: repo, clock: time.Now}
}

// now is the time as the database keeps it: UTC, to the microsecond, so
// what a use case returns equals what a later read gives back.
func (s *Service) now() time.Time {
	return s.clock().UTC().Truncate(time.Microsecond)
}

// Create registers a new customer.
func (s *Service) Create(ctx context.Context, f Fields) (Customer, error) {
	f = f.normalize()
	if err := f.Validate(); err != nil {
		return Customer{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Customer{}, err
	}
	now := s.now()
	c := Customer{ID: id, Name: f.Name, Email: f.Email, Phone: f.Phone, CreatedAt: now, UpdatedAt: now}
	if err := s.repo.Create(ctx, c); err != nil {
		return Customer{}, err
	}
	return c, nil
}

// Get returns a live customer.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (Customer, error) {
	return s.repo.Get(ctx, id)
}

// Search lists live customers, newest first.
func (s *Service) Search(ctx context.Context, q Query) (page.Page[Customer], error) {
	q.Search = strings.TrimSpace(q.Search)
	return s.repo.Search(ctx, q)
}

// Replace overwrites every writable field; an empty phone clears it.
func (s *Service) Replace(ctx context.Context, id uuid.UUID, f Fields) (Customer, error) {
	f = f.normalize()
	if err := f.Validate(); err != nil {
		return Customer{}, err
	}
	return s.repo.Update(ctx, id, func(c *Customer) error {
		c.Name, c.Email, c.Phone = f.Name, f.Email, f.Phone
		c.UpdatedAt = s.now()
		return nil
	})
}

// Update changes the fields p sets; at least one must be set.
func (s *Service) Update(ctx context.Context, id uuid.UUID, p Patch) (Customer, error) {
	if err := p.Validate(); err != nil {
		return Customer{}, err
	}
	f := p.fields()
	return s.repo.Update(ctx, id, func(c *Customer) error {
		if p.Name != nil {
			c.Name = f.Name
		}
		if p.Email != nil {
			c.Email = f.Email
		}
		if p.Phone != nil {
			c.Phone = f.Phone
		}
		c.UpdatedAt = s.now()
		return nil
	})
}

// Delete soft deletes a customer; its email may then be used again.
func (s *Service) Delete(ctx context.Context, id uuid.UUID) error {
	return s.repo.Delete(ctx, id, s.now())
}
