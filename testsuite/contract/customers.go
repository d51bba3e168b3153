package contract

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/customer"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/page"
)

// RunCustomerRepositorySuite checks a customer.Repository. newRepo returns an
// empty repository for each case.
func RunCustomerRepositorySuite(t *testing.T, newRepo func(t *testing.T) customer.Repository) {
	ctx := context.Background()

	t.Run("create then get returns what was stored", func(t *testing.T) {
		repo := newRepo(t)
		want := newCustomer("Ada", "ada@example.com")
		want.Phone = "+44 20 7946 0000"
		mustCreate(t, repo, want)
		got, err := repo.Get(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !sameCustomer(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})

	t.Run("get of an unknown id is not found", func(t *testing.T) {
		repo := newRepo(t)
		_, err := repo.Get(ctx, uuid.Must(uuid.NewV7()))
		wantCode(t, err, errs.NotFound)
	})

	t.Run("a second live customer with one email is refused", func(t *testing.T) {
		repo := newRepo(t)
		mustCreate(t, repo, newCustomer("A", "dup@example.com"))
		err := repo.Create(ctx, newCustomer("B", "dup@example.com"))
		wantCode(t, err, errs.EmailTaken)
	})

	t.Run("ten concurrent creates with one email: exactly one wins", func(t *testing.T) {
		repo := newRepo(t)
		const n = 10
		results := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				results[i] = repo.Create(ctx, newCustomer(fmt.Sprintf("C%d", i), "race@example.com"))
			})
		}
		wg.Wait()
		won := 0
		for _, err := range results {
			switch {
			case err == nil:
				won++
			case !errs.Is(err, errs.EmailTaken):
				t.Errorf("unexpected error: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d creates succeeded, want 1", won)
		}
		p, err := repo.Search(ctx, customer.Query{Search: "race@", Page: page.Request{Limit: 100}})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) != 1 {
			t.Fatalf("%d customers stored with the email, want 1", len(p.Items))
		}
	})

	t.Run("delete hides the customer and frees its email", func(t *testing.T) {
		repo := newRepo(t)
		c := newCustomer("Gone", "gone@example.com")
		mustCreate(t, repo, c)
		if err := repo.Delete(ctx, c.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		_, err := repo.Get(ctx, c.ID)
		wantCode(t, err, errs.NotFound)
		wantCode(t, repo.Delete(ctx, c.ID, time.Now()), errs.NotFound)
		_, err = repo.Update(ctx, c.ID, func(*customer.Customer) error { return nil })
		wantCode(t, err, errs.NotFound)
		p, err := repo.Search(ctx, customer.Query{Page: page.Request{Limit: 10}})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) != 0 {
			t.Fatalf("search lists a deleted customer: %+v", p.Items)
		}
		again := newCustomer("Back", "gone@example.com")
		mustCreate(t, repo, again)
		got, err := repo.Get(ctx, again.ID)
		if err != nil || got.Email != "gone@example.com" {
			t.Fatalf("reuse of a deleted customer's email: %+v, %v", got, err)
		}
	})

	t.Run("update applies the function and keeps the email unique", func(t *testing.T) {
		repo := newRepo(t)
		a, b := newCustomer("A", "a@example.com"), newCustomer("B", "b@example.com")
		mustCreate(t, repo, a)
		mustCreate(t, repo, b)
		got, err := repo.Update(ctx, a.ID, func(c *customer.Customer) error {
			c.Name = "A2"
			return nil
		})
		if err != nil || got.Name != "A2" {
			t.Fatalf("update: %+v, %v", got, err)
		}
		if stored, _ := repo.Get(ctx, a.ID); stored.Name != "A2" {
			t.Fatalf("stored name %q, want A2", stored.Name)
		}
		_, err = repo.Update(ctx, a.ID, func(c *customer.Customer) error {
			c.Email = "b@example.com"
			return nil
		})
		wantCode(t, err, errs.EmailTaken)
		if stored, _ := repo.Get(ctx, a.ID); stored.Email != "a@example.com" {
			t.Fatalf("a refused update changed the email to %q", stored.Email)
		}
	})

	t.Run("an update function's error rolls back", func(t *testing.T) {
		repo := newRepo(t)
		c := newCustomer("Keep", "keep@example.com")
		mustCreate(t, repo, c)
		boom := errs.New(errs.Invalid, "no")
		_, err := repo.Update(ctx, c.ID, func(c *customer.Customer) error {
			c.Name = "Changed"
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("got %v, want the function's error", err)
		}
		if stored, _ := repo.Get(ctx, c.ID); stored.Name != "Keep" {
			t.Fatalf("name %q after a failed update", stored.Name)
		}
	})

	t.Run("concurrent updates of one customer all apply", func(t *testing.T) {
		repo := newRepo(t)
		c := newCustomer("0", "counter@example.com")
		mustCreate(t, repo, c)
		const n = 20
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, err := repo.Update(ctx, c.ID, func(c *customer.Customer) error {
					var v int
					fmt.Sscan(c.Name, &v)
					c.Name = fmt.Sprint(v + 1)
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got, _ := repo.Get(ctx, c.ID); got.Name != fmt.Sprint(n) {
			t.Fatalf("after %d increments the name is %q: an update was lost", n, got.Name)
		}
	})

	t.Run("search matches name, email or phone, literally", func(t *testing.T) {
		repo := newRepo(t)
		x := newCustomer("Zeta Corp", "z@example.com")
		y := newCustomer("Other", "zeta@example.com")
		z := newCustomer("Third", "third@example.com")
		z.Phone = "555-0199"
		w := newCustomer("100% Pure", "pure@example.com")
		for _, c := range []customer.Customer{x, y, z, w} {
			mustCreate(t, repo, c)
		}
		for search, want := range map[string][]uuid.UUID{
			"zeta":     {y.ID, x.ID},
			"0199":     {z.ID},
			"100%":     {w.ID},
			"%":        {w.ID},
			"_":        {},
			"nobody":   {},
			"third@ex": {z.ID},
		} {
			p, err := repo.Search(ctx, customer.Query{Search: search, Page: page.Request{Limit: 10}})
			if err != nil {
				t.Fatal(err)
			}
			if got := customerIDs(p.Items); !equalIDs(got, want) {
				t.Errorf("search %q: got %v, want %v", search, got, want)
			}
		}
	})

	t.Run("pages walk every customer newest first without gaps or repeats", func(t *testing.T) {
		repo := newRepo(t)
		const n = 23
		var want []uuid.UUID
		base := time.Now().UTC().Truncate(time.Microsecond)
		for i := range n {
			c := newCustomer(fmt.Sprint(i), fmt.Sprintf("p%d@example.com", i))
			// Several customers share a creation time, so the id must break ties.
			c.CreatedAt = base.Add(time.Duration(i/3) * time.Millisecond)
			c.UpdatedAt = c.CreatedAt
			mustCreate(t, repo, c)
			want = append(want, c.ID)
		}
		var got []uuid.UUID
		var after *page.Cursor
		for pages := 0; ; pages++ {
			if pages > n {
				t.Fatal("paging does not end")
			}
			p, err := repo.Search(ctx, customer.Query{Page: page.Request{Limit: 5, After: after}})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, customerIDs(p.Items)...)
			if !p.HasMore {
				if p.Next != nil {
					t.Fatal("last page has a next cursor")
				}
				break
			}
			after = p.Next
		}
		// Newest first: reverse of insertion, with ties broken by id descending.
		wantOrder := make([]uuid.UUID, 0, n)
		for i := n - 1; i >= 0; i-- {
			wantOrder = append(wantOrder, want[i])
		}
		if !equalIDs(got, wantOrder) {
			t.Fatalf("pages gave %d ids in this order %v, want %v", len(got), got, wantOrder)
		}
	})
}

func newCustomer(name, email string) customer.Customer {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return customer.Customer{ID: uuid.Must(uuid.NewV7()), Name: name, Email: email, CreatedAt: now, UpdatedAt: now}
}

func mustCreate(t *testing.T, repo customer.Repository, c customer.Customer) {
	t.Helper()
	if err := repo.Create(context.Background(), c); err != nil {
		t.Fatalf("create %s: %v", c.Email, err)
	}
}

func sameCustomer(a, b customer.Customer) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Email == b.Email && a.Phone == b.Phone &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func customerIDs(cs []customer.Customer) []uuid.UUID {
	ids := make([]uuid.UUID, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func equalIDs(a, b []uuid.UUID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func wantCode(t *testing.T, err error, code errs.Code) {
	t.Helper()
	if !errs.Is(err, code) {
		t.Fatalf("got error %v, want code %s", err, code)
	}
}
