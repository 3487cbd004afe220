package graphstore

import (
	"container/list"
	"sync"
)

// graphCache keeps recently read whole graphs. Networks never change after
// they are written, so an entry stays valid until its network is deleted;
// the network row is still looked up on every read, so a network deleted by
// another process is never served from here. Bounded by nodes + edges held.
type graphCache struct {
	mu       sync.Mutex
	maxItems int
	items    int
	order    *list.List // front = most recent
	byID     map[int]*list.Element
}

type cacheEntry struct {
	id int
	g  *Graph
}

func newGraphCache(maxItems int) *graphCache {
	return &graphCache{maxItems: maxItems, order: list.New(), byID: map[int]*list.Element{}}
}

func size(g *Graph) int { return len(g.Nodes) + len(g.Edges) }

func (c *graphCache) get(id int) *Graph {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[id]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*cacheEntry).g
	}
	return nil
}

func (c *graphCache) put(id int, g *Graph) {
	if c.maxItems <= 0 || size(g) > c.maxItems/2 {
		return // one huge graph would evict everything else
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[id]; ok {
		return
	}
	c.byID[id] = c.order.PushFront(&cacheEntry{id: id, g: g})
	c.items += size(g)
	for c.items > c.maxItems {
		el := c.order.Back()
		e := el.Value.(*cacheEntry)
		c.order.Remove(el)
		delete(c.byID, e.id)
		c.items -= size(e.g)
	}
}

func (c *graphCache) remove(id int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[id]; ok {
		c.order.Remove(el)
		delete(c.byID, id)
		c.items -= size(el.Value.(*cacheEntry).g)
	}
}
