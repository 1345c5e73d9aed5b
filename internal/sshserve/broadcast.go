package sshserve

import (
	"context"
	"sync"
)

// Broadcaster fans one stream of immutable frames out to every session. The frames are built
// once per refresh by whoever feeds the broadcaster; a session only renders them at its own
// size. Each subscriber has a one-frame mailbox: a session that has not taken its previous
// frame gets the newer one instead (a dashboard shows the present, not a backlog), so a slow
// or stalled session costs the others nothing and memory never grows with its lag.
type Broadcaster[T any] struct {
	mu      sync.Mutex
	subs    map[*Subscription[T]]struct{}
	latest  T
	hasLast bool
	closed  bool
}

// Subscription is one session's mailbox.
type Subscription[T any] struct {
	ch chan T
	// Dropped counts frames replaced before the session took them (a slow session).
	dropped uint64
	b       *Broadcaster[T]
}

// NewBroadcaster returns a broadcaster with no subscribers.
func NewBroadcaster[T any]() *Broadcaster[T] {
	return &Broadcaster[T]{subs: map[*Subscription[T]]struct{}{}}
}

// Run publishes every frame from src until src closes or ctx ends; then every subscriber's
// channel is closed, so their dashboards say the feed ended.
func (b *Broadcaster[T]) Run(ctx context.Context, src <-chan T) {
	defer b.close()
	for {
		select {
		case <-ctx.Done():
			return
		case f, ok := <-src:
			if !ok {
				return
			}
			b.Publish(f)
		}
	}
}

// Publish hands f to every subscriber without ever blocking.
func (b *Broadcaster[T]) Publish(f T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.latest, b.hasLast = f, true
	for s := range b.subs {
		s.offer(f)
	}
}

// offer puts f in the mailbox, replacing a frame the session has not taken. The caller
// holds b.mu, the only sender, so the second send cannot find the mailbox full.
func (s *Subscription[T]) offer(f T) {
	select {
	case s.ch <- f:
		return
	default:
	}
	select {
	case <-s.ch:
		s.dropped++
	default:
	}
	select {
	case s.ch <- f:
	default:
	}
}

// Subscribe returns a mailbox that starts with the latest frame, so a new session draws at
// once instead of waiting a refresh.
func (b *Broadcaster[T]) Subscribe() *Subscription[T] {
	s := &Subscription[T]{ch: make(chan T, 1), b: b}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(s.ch)
		return s
	}
	if b.hasLast {
		s.ch <- b.latest
	}
	b.subs[s] = struct{}{}
	return s
}

// Frames is the channel a dashboard reads (ui.Options.Frames).
func (s *Subscription[T]) Frames() <-chan T { return s.ch }

// Dropped is how many frames this session missed because it was slow.
func (s *Subscription[T]) Dropped() uint64 {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.dropped
}

// Close ends the subscription; its channel is closed.
func (s *Subscription[T]) Close() {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.ch)
	}
}

// Subscribers is how many sessions are subscribed.
func (b *Broadcaster[T]) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

func (b *Broadcaster[T]) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		close(s.ch)
		delete(b.subs, s)
	}
}
