package alerts

import (
	"testing"
	"time"
)

func TestOneAnvilFaultIsOneGroup(t *testing.T) {
	on := func(sec int) time.Time { return start.Add(time.Duration(sec) * time.Second) }
	active := []Alert{
		{Name: NameHighErrorRate, State: StateFiring, Labels: map[string]string{"service": "anvil", "operation": "submit_label"}, Value: 0.3, Onset: on(2)},
		{Name: NameHighErrorRate, State: StateFiring, Labels: map[string]string{"service": "anvil", "operation": "fetch_assignment"}, Value: 0.2, Onset: on(3)},
		{Name: NameHighErrorRate, State: StatePending, Labels: map[string]string{"service": "anvil"}, Value: 0.25, Onset: on(3)},
		{Name: NameServiceUnhealthy, State: StateFiring, Labels: map[string]string{"service": "anvil"}, Onset: on(1)},
		{Name: NameServiceUnhealthy, State: StateResolving, Labels: map[string]string{"service": "ingot/anvil"}, Onset: on(4), ResolvingAt: on(50)},
		{Name: NameSlowLabelSubmit, State: StateFiring, Labels: map[string]string{}, Onset: on(5)},
		{Name: NameStreamLag, State: StatePending, Labels: map[string]string{}, Onset: on(0), OnsetApprox: true},
		{Name: NameHighErrorRate, State: StatePending, Labels: map[string]string{"service": "forge", "operation": "get_sample"}, Onset: on(9)},
	}
	groups := GroupAlerts(active)
	if len(groups) != 3 {
		t.Fatalf("groups = %+v, want anvil, forge and the stream lag", groups)
	}
	g := groups[0]
	if g.Service != "anvil" || g.Lead.Name != NameServiceUnhealthy || g.Lead.Labels["service"] != "anvil" || g.Size() != 6 {
		t.Fatalf("first group = %s led by %s%v with %d alerts, want anvil led by IngotServiceUnhealthy{anvil} with 6", g.Service, g.Lead.Name, g.Lead.Labels, g.Size())
	}
	if g.State != StateFiring || !g.Onset.Equal(on(1)) || g.OnsetApprox {
		t.Errorf("group state %s onset %v approx %v, want firing since the earliest onset %v", g.State, g.Onset, g.OnsetApprox, on(1))
	}
	if g.Members[0].State != StateFiring {
		t.Errorf("members are not ordered by state: %+v", g.Members)
	}
	if groups[1].Service != "" || groups[1].Lead.Name != NameStreamLag {
		t.Errorf("second group = %+v, want the lone stream lag (pending, earlier onset than forge's)", groups[1])
	}
	if groups[2].Service != "forge" || groups[2].Size() != 1 {
		t.Errorf("third group = %+v, want forge alone", groups[2])
	}
}

func TestGroupResolvingWhenEveryMemberIs(t *testing.T) {
	on := func(sec int) time.Time { return start.Add(time.Duration(sec) * time.Second) }
	g := GroupAlerts([]Alert{
		{Name: NameServiceUnhealthy, State: StateResolving, Labels: map[string]string{"service": "forge"}, Onset: on(1), ResolvingAt: on(40)},
		{Name: NameHighErrorRate, State: StateResolving, Labels: map[string]string{"service": "forge", "operation": "get_sample"}, Onset: on(2), ResolvingAt: on(42)},
	})
	if len(g) != 1 || g[0].State != StateResolving || !g[0].ResolvingAt.Equal(on(42)) {
		t.Fatalf("group = %+v, want resolving since the last member stopped, %v", g, on(42))
	}
	g = GroupAlerts([]Alert{
		{Name: NameServiceUnhealthy, State: StateResolving, Labels: map[string]string{"service": "forge"}, Onset: on(1), ResolvingAt: on(40)},
		{Name: NameHighErrorRate, State: StateFiring, Labels: map[string]string{"service": "forge", "operation": "get_sample"}, Onset: on(2)},
	})
	if g[0].State != StateFiring || !g[0].ResolvingAt.IsZero() {
		t.Fatalf("group = %+v, want firing while a member fires", g[0])
	}
}

// Ingot's /health fails because Anvil does (its body says ingot/anvil is down): one fault.
func TestIngotUnhealthyBecauseOfAnvilJoinsAnvil(t *testing.T) {
	g := GroupAlerts([]Alert{
		{Name: NameServiceUnhealthy, State: StateFiring, Labels: map[string]string{"service": "ingot"}},
		{Name: NameServiceUnhealthy, State: StateFiring, Labels: map[string]string{"service": "ingot/anvil"}},
		{Name: NameServiceUnhealthy, State: StateFiring, Labels: map[string]string{"service": "anvil"}},
	})
	if len(g) != 1 || g[0].Service != "anvil" || g[0].Lead.Labels["service"] != "anvil" || g[0].Size() != 3 {
		t.Fatalf("groups = %+v, want one Anvil group led by anvil's probe", g)
	}
	// without ingot/anvil down, Ingot's own failure is its own fault
	g = GroupAlerts([]Alert{
		{Name: NameServiceUnhealthy, State: StateFiring, Labels: map[string]string{"service": "ingot"}},
		{Name: NameServiceUnhealthy, State: StateFiring, Labels: map[string]string{"service": "anvil"}},
	})
	if len(g) != 2 {
		t.Fatalf("groups = %+v, want anvil and ingot apart", g)
	}
}
