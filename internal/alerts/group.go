package alerts

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// One fault raises several alerts: an Anvil outage makes Anvil's probe fail, the error rate
// of every Anvil operation and of Anvil as a whole rise, and label submits slow down. Shown
// apart they bury the cause ("+5 more"); grouped, the banner says "anvil" once, with the
// alerts it explains under it.

// Group is the alerts one service's fault explains, led by the one that says most about the
// cause, or a single alert that nothing explains.
type Group struct {
	// Service is the service at fault ("anvil", "forge", "ingot"), "" for a lone alert.
	Service string
	// Lead is, by preference, the service's IngotServiceUnhealthy, then its own error-rate
	// alert, then the worst of its operations' error-rate alerts.
	Lead Alert
	// Members are the other alerts the fault explains, by state then onset.
	Members []Alert
	// State is the most urgent state among lead and members (firing, resolving, pending).
	State AlertState
	// Onset is the earliest onset among them; OnsetApprox when that one is a bound.
	Onset       time.Time
	OnsetApprox bool
	// ResolvingAt is the latest time a member stopped holding, when the group is resolving.
	ResolvingAt time.Time
}

// Alerts returns lead and members.
func (g Group) Alerts() []Alert { return append([]Alert{g.Lead}, g.Members...) }

// Size is the number of alerts in the group.
func (g Group) Size() int { return 1 + len(g.Members) }

// serviceOf is the service an alert is about: its service label, with Ingot's own view of a
// dependency ("ingot/anvil" from Ingot's /health body) counted as that dependency.
func serviceOf(a Alert) string {
	s := a.Labels["service"]
	if rest, ok := strings.CutPrefix(s, "ingot/"); ok && rest != "" {
		return rest
	}
	return s
}

// leadRank orders candidates to lead service svc's group (lower leads).
func leadRank(a Alert, svc string) int {
	switch {
	case a.Name == NameServiceUnhealthy && a.Labels["service"] == svc:
		return 0
	case a.Name == NameServiceUnhealthy:
		return 1
	case a.Name == NameHighErrorRate && a.Labels["operation"] == "":
		return 2
	case a.Name == NameHighErrorRate:
		return 3
	}
	return 4
}

// GroupAlerts groups active alerts by the service at fault: the alerts of a service with an
// unhealthy probe or a failing error rate go together, and a slow label submit joins the
// Anvil group if there is one (a submit is an Anvil write), else the Forge one. Groups are
// ordered as alerts are: by state, then onset.
func GroupAlerts(active []Alert) []Group {
	byService := map[string][]Alert{}
	var rest []Alert
	for _, a := range active {
		if s := serviceOf(a); s != "" && (a.Name == NameServiceUnhealthy || a.Name == NameHighErrorRate) {
			byService[s] = append(byService[s], a)
			continue
		}
		rest = append(rest, a)
	}
	// Ingot's own /health fails when a dependency does: with "ingot/anvil" down, Ingot's
	// unhealthy probe is explained by Anvil.
	if ingot := byService["ingot"]; len(ingot) > 0 {
		for _, dep := range []string{"anvil", "forge"} {
			if !hasAlert(byService[dep], NameServiceUnhealthy, "ingot/"+dep) {
				continue
			}
			var keep []Alert
			for _, a := range ingot {
				if a.Name == NameServiceUnhealthy && a.Labels["service"] == "ingot" {
					byService[dep] = append(byService[dep], a)
					continue
				}
				keep = append(keep, a)
			}
			ingot = keep
			break
		}
		if len(ingot) == 0 {
			delete(byService, "ingot")
		} else {
			byService["ingot"] = ingot
		}
	}
	var groups []Group
	for _, svc := range slices.Sorted(maps.Keys(byService)) {
		members := byService[svc]
		slices.SortStableFunc(members, func(a, b Alert) int {
			if c := leadRank(a, svc) - leadRank(b, svc); c != 0 {
				return c
			}
			if c := StateRank(a.State) - StateRank(b.State); c != 0 {
				return c
			}
			if a.Value != b.Value {
				if a.Value > b.Value {
					return -1
				}
				return 1
			}
			return a.Onset.Compare(b.Onset)
		})
		groups = append(groups, Group{Service: svc, Lead: members[0], Members: members[1:]})
	}
	for _, a := range rest {
		if a.Name == NameSlowLabelSubmit {
			if i := groupIndex(groups, "anvil", "forge"); i >= 0 {
				groups[i].Members = append(groups[i].Members, a)
				continue
			}
		}
		groups = append(groups, Group{Lead: a})
	}
	for i := range groups {
		g := &groups[i]
		slices.SortStableFunc(g.Members, func(a, b Alert) int {
			if c := StateRank(a.State) - StateRank(b.State); c != 0 {
				return c
			}
			return a.Onset.Compare(b.Onset)
		})
		g.State = g.Lead.State
		g.Onset, g.OnsetApprox = onsetOf(g.Lead)
		g.ResolvingAt = g.Lead.ResolvingAt
		for _, m := range g.Members {
			if StateRank(m.State) < StateRank(g.State) {
				g.State = m.State
			}
			if o, approx := onsetOf(m); o.Before(g.Onset) {
				g.Onset, g.OnsetApprox = o, approx
			}
			if m.ResolvingAt.After(g.ResolvingAt) {
				g.ResolvingAt = m.ResolvingAt
			}
		}
		if g.State != StateResolving {
			g.ResolvingAt = time.Time{}
		}
	}
	slices.SortStableFunc(groups, func(a, b Group) int {
		if c := StateRank(a.State) - StateRank(b.State); c != 0 {
			return c
		}
		return a.Onset.Compare(b.Onset)
	})
	return groups
}

func hasAlert(list []Alert, name, service string) bool {
	for _, a := range list {
		if a.Name == name && a.Labels["service"] == service {
			return true
		}
	}
	return false
}

// onsetOf is an alert's onset, or its ActiveAt (a bound) when it has none.
func onsetOf(a Alert) (time.Time, bool) {
	if a.Onset.IsZero() {
		return a.ActiveAt, true
	}
	return a.Onset, a.OnsetApprox
}

func groupIndex(groups []Group, services ...string) int {
	for _, s := range services {
		for i := range groups {
			if groups[i].Service == s {
				return i
			}
		}
	}
	return -1
}
