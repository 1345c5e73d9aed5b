package engine

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

// TestQueueTableCachesMatchMaps drives a small queue table through admissions, evictions,
// folds and labeler reuse, with ids that share their cache slots on purpose, and checks
// after every lookup that the caches in front of the maps answered what the maps hold.
func TestQueueTableCachesMatchMaps(t *testing.T) {
	seed := maphash.MakeSeed()
	now := t0
	tab := newQueueTable(6, 3, now, seed, newSketchKit())
	rng := rand.New(rand.NewPCG(3, 4))
	// Same length and last eight bytes: one cache slot for every prefix.
	queueID := func() string { return fmt.Sprintf("%c-queue_%02d", 'a'+rng.IntN(3), rng.IntN(6)) }
	userID := func() string { return fmt.Sprintf("%c-user_%02d", 'a'+rng.IntN(3), rng.IntN(5)) }
	hits := 0
	for i := 0; i < 200000; i++ {
		now = now.Add(time.Duration(rng.IntN(4000)) * time.Millisecond)
		w := tab.weight(now)
		id := queueID()
		if rng.IntN(50) == 0 { // a burst of one id gets it admitted over an idle queue
			for k := 0; k < 20; k++ {
				tab.lookup(id, now, w)
			}
		}
		if tab.recent[queueCacheSlot(id)] != nil && tab.recent[queueCacheSlot(id)].id == id {
			hits++
		}
		q := tab.lookup(id, now, w)
		if inMap, ok := tab.byID[id]; ok != (q != tab.other) || ok && inMap != q {
			t.Fatalf("op %d: lookup(%q) = %q (pos %d), byID has %v", i, id, q.id, q.pos, inMap)
		}
		if q == tab.other {
			continue
		}
		who := userID()
		l := tab.labeler(q, who, now)
		l.lastSeen = now
		if l == q.labOther {
			if _, ok := q.labelers[who]; ok {
				t.Fatalf("op %d: labeler(%q, %q) folded, but the queue tracks it", i, q.id, who)
			}
			continue
		}
		if q.labelers[who] != l || l.id != who || l.owner != q {
			t.Fatalf("op %d: labeler(%q, %q) = %q owned by %p, the map holds %p", i, q.id, who, l.id, l.owner, q.labelers[who])
		}
		if l.userHash != maphash.String(seed, who) || q.idHash != maphash.String(seed, q.id) {
			t.Fatalf("op %d: kept hashes are not the ids' (%q, %q)", i, q.id, who)
		}
	}
	if tab.queueEvictions == 0 || tab.labelerEvicts == 0 || tab.foldedEventsCnt == 0 {
		t.Fatalf("the test did not exercise evictions and folds: %d queue evictions, %d labeler reuses, %d folded", tab.queueEvictions, tab.labelerEvicts, tab.foldedEventsCnt)
	}
	if hits == 0 {
		t.Fatal("the cache never answered")
	}
}

// TestNameInfoMatchesCatalogue looks up a stream of names, many more than the cache holds
// and some on shared slots, and checks every answer against the catalogue.
func TestNameInfoMatchesCatalogue(t *testing.T) {
	st := newState(DefaultConfig(), t0)
	names := append(wire.Catalogue(), "", "x", "ingot.anvil_client.fetch_assignment", "ingot.assignment.abandoned", "ingot.forge_client.get_sample", "anvil.unknown.thing")
	for i := 0; i < 200; i++ {
		names = append(names, fmt.Sprintf("ingot.anvil_client.op_%d", i), fmt.Sprintf("app%d.x", i))
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 100000; i++ {
		name := names[rng.IntN(len(names))]
		if rng.IntN(2) == 0 { // a hot few, as in a real stream
			name = names[rng.IntN(20)]
		}
		ni := st.nameInfo(name)
		svc, _, client := wire.ClientOperation(name)
		if ni.name != name || ni.known != wire.Known(name) || ni.client != client || ni.forge != (svc == "forge") {
			t.Fatalf("nameInfo(%q) = %+v", name, *ni)
		}
	}
}

// TestDedupeSetMatchesGenerationsOfMaps checks dedupeSet against the same two generations
// kept in maps, over hashes that repeat soon, late and never, with some on the same slots.
func TestDedupeSetMatchesGenerationsOfMaps(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, capacity := range []int{2, 16, 1000} {
		d := newDedupeSet(capacity)
		half := max(capacity/2, 1)
		young, old := map[uint64]bool{}, map[uint64]bool{}
		var seen []uint64
		for i := 0; i < 200000; i++ {
			var h uint64
			switch k := rng.IntN(10); {
			case k < 4 && len(seen) > 0: // a repeat, recent or not
				h = seen[len(seen)-1-rng.IntN(min(len(seen), 3*half))]
			case k < 6: // on the slot of an earlier one, as colliding ids are
				h = rng.Uint64()&^uint64(len(d.young.slots)-1) | uint64(rng.IntN(4))
			default:
				h = rng.Uint64()
			}
			if h == 0 {
				h = 1
			}
			want := !young[h] && !old[h]
			if want {
				if len(young) >= half {
					young, old = map[uint64]bool{}, young
				}
				young[h] = true
			}
			if got := d.firstSeen(h); got != want {
				t.Fatalf("capacity %d, op %d: firstSeen(%x) = %v, want %v", capacity, i, h, got, want)
			}
			seen = append(seen, h)
		}
	}
}
