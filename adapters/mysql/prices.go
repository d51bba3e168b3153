package mysql

import (
	"sync"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/ordering"
)

// priceCache remembers, per product, the last price this process read. It
// spares a placement the read of its products' prices before the
// transaction, and is never trusted: the stock UPDATE matches a row only
// at the price the order is charged (price_cents = the cached price), so a
// price changed since, through this replica or any other, fails the UPDATE,
// and the placement re-reads its products and runs again at the new prices,
// as it does when a price changes under it between a read and the lock.
//
// An id in the cache is also known to exist: products are never deleted.
// An id not in it is read before anything is written, so an unknown product
// is refused without a transaction.
type priceCache struct {
	mu sync.RWMutex
	m  map[uuid.UUID]int64
}

// maxCachedPrices bounds the cache's memory (about 50 bytes an entry). A
// full cache is emptied and refills from the placements that follow.
const maxCachedPrices = 1 << 17

// lookup returns the cached price of every product, or false if any of
// them is not cached.
func (c *priceCache) lookup(ids []uuid.UUID) (map[uuid.UUID]int64, bool) {
	out := make(map[uuid.UUID]int64, len(ids))
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, id := range ids {
		p, ok := c.m[id]
		if !ok {
			return nil, false
		}
		out[id] = p
	}
	return out, true
}

// store remembers the prices just read.
func (c *priceCache) store(products map[uuid.UUID]ordering.Stock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m)+len(products) > maxCachedPrices {
		c.m = make(map[uuid.UUID]int64, len(products))
	}
	for id, p := range products {
		c.m[id] = p.PriceCents
	}
}
