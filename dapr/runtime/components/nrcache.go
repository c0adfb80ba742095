package components

import (
	"context"
	"sync"
	"time"

	"github.com/dapr/components-contrib/nameresolution"
	"github.com/dapr/kit/logger"
)

// resolveTTL is how long a resolved address is reused. The sqlite resolver parses and runs
// a SQL query on every service invocation; profiled under load that was 30 % of the
// calling daprd's CPU (bench/README.md, "The gateway hop"). One second keeps a restarted
// or moved app reachable within a second, which is also the granularity at which load is
// spread over several instances of one app (the resolver picks one at random per lookup).
const resolveTTL = time.Second

type cachedAddress struct {
	addr    string
	expires time.Time
}

// cachingResolver reuses the answers of another resolver for resolveTTL. Failures are
// never cached, so an app that is not registered yet is looked up again on the next call.
type cachingResolver struct {
	nameresolution.Resolver

	mu    sync.RWMutex
	cache map[string]cachedAddress
	now   func() time.Time
}

func withResolveCache(factory func(logger.Logger) nameresolution.Resolver) func(logger.Logger) nameresolution.Resolver {
	return func(l logger.Logger) nameresolution.Resolver {
		return &cachingResolver{Resolver: factory(l), cache: map[string]cachedAddress{}, now: time.Now}
	}
}

func (c *cachingResolver) ResolveID(ctx context.Context, req nameresolution.ResolveRequest) (string, error) {
	key := req.CacheKey()
	now := c.now()
	c.mu.RLock()
	hit, ok := c.cache[key]
	c.mu.RUnlock()
	if ok && now.Before(hit.expires) {
		return hit.addr, nil
	}
	addr, err := c.Resolver.ResolveID(ctx, req)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.cache[key] = cachedAddress{addr: addr, expires: now.Add(resolveTTL)}
	c.mu.Unlock()
	return addr, nil
}
