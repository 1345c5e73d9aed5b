package engine

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func aggregateWithAlerts(t *testing.T, producer string, al *AggregateAlerts) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(validAggregateJSON(t), &m); err != nil {
		t.Fatal(err)
	}
	m["producer"] = producer
	m["alerts"] = al
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestAggregateAlertsRoundTripAndMerge: alerts survive encoding, hostile ones are refused,
// text is made safe, and the merger makes one alert of the daemons' same rule and labels,
// with the earliest onset and the most urgent state.
func TestAggregateAlertsRoundTripAndMerge(t *testing.T) {
	at := time.Now().UTC().Truncate(time.Second)
	svc := map[string]string{"service": "anvil"}
	early := AggregateAlert{Name: "IngotServiceUnhealthy", Severity: "page", State: "pending", Labels: svc,
		Summary: "anvil unhealthy\x1b[31m", Onset: at.Add(-5 * time.Minute), ActiveAt: at.Add(-10 * time.Second)}
	firing := AggregateAlert{Name: "IngotServiceUnhealthy", Severity: "page", State: "firing", Labels: svc,
		Summary: "anvil unhealthy: 503", Onset: at.Add(-time.Minute), ActiveAt: at.Add(-50 * time.Second), FiredAt: at.Add(-20 * time.Second),
		Runbook: "RUNBOOK.md#ingotserviceunhealthy"}
	old := AggregateAlert{Name: "IngotStreamLag", State: "resolved", Onset: at.Add(-time.Hour), ResolvedAt: at.Add(-30 * time.Minute)}

	x, err := DecodeAggregate(aggregateWithAlerts(t, "d1", &AggregateAlerts{At: at, Active: []AggregateAlert{early}, Resolved: []AggregateAlert{old}}))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if x.Alerts == nil || len(x.Alerts.Active) != 1 || strings.Contains(x.Alerts.Active[0].Summary, "\x1b") || !x.Alerts.Active[0].Onset.Equal(early.Onset) {
		t.Fatalf("alerts after decoding: %+v", x.Alerts)
	}
	many := make([]AggregateAlert, MaxAggregateActiveAlerts+1)
	for i := range many {
		many[i] = AggregateAlert{Name: "IngotHighErrorRate", State: "firing"}
	}
	labels := map[string]string{}
	for i := range maxAggregateAlertLabels + 1 {
		labels[strings.Repeat("k", i+1)] = "v"
	}
	for name, al := range map[string]*AggregateAlerts{
		"unknown state":   {Active: []AggregateAlert{{Name: "x", State: "on fire"}}},
		"no name":         {Active: []AggregateAlert{{State: "firing"}}},
		"too many":        {Active: many},
		"too many labels": {Active: []AggregateAlert{{Name: "x", State: "firing", Labels: labels}}},
		"active resolved": {Resolved: []AggregateAlert{{Name: "x", State: "firing"}}},
	} {
		if _, err := DecodeAggregate(aggregateWithAlerts(t, "d1", al)); err == nil {
			t.Errorf("%s: hostile alerts accepted", name)
		}
	}

	m := NewMerger(MergerConfig{MaxClockSkew: -1})
	if _, ok := m.Alerts(); ok {
		t.Error("alerts known with no producer")
	}
	for producer, al := range map[string]*AggregateAlerts{
		"d1": {At: at, Active: []AggregateAlert{early}, Resolved: []AggregateAlert{old}},
		"d2": {At: at, Active: []AggregateAlert{firing}, Resolved: []AggregateAlert{old}},
	} {
		if err := m.AddEncoded(aggregateWithAlerts(t, producer, al)); err != nil {
			t.Fatal(err)
		}
	}
	got, ok := m.Alerts()
	if !ok || len(got.Active) != 1 {
		t.Fatalf("merged alerts %+v (known %v), want one", got, ok)
	}
	a := got.Active[0]
	if a.State != "firing" || !a.Onset.Equal(early.Onset) || !a.ActiveAt.Equal(firing.ActiveAt) || !a.FiredAt.Equal(firing.FiredAt) || a.Summary != firing.Summary {
		t.Errorf("merged alert %+v: want firing, d1's onset, d2's (earlier) activation, firing time and summary", a)
	}
	if len(got.Resolved) != 1 {
		t.Errorf("resolved %+v: want the one alert both daemons resolved, once", got.Resolved)
	}
	// a daemon too old to evaluate alerts: its stream would go unwatched
	if err := m.AddEncoded(aggregateWithAlerts(t, "d3", nil)); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Alerts(); ok {
		t.Error("alerts known while a daemon sends none")
	}
}

// TestAggregateAlertsOlderReader: an aggregate with alerts still decodes for a reader whose
// Aggregate has no Alerts field (a viewer older than the field), within its decode-cost
// limit even at the caps: older viewers keep working with newer daemons.
func TestAggregateAlertsOlderReader(t *testing.T) {
	at := time.Now().UTC()
	al := &AggregateAlerts{At: at}
	for i := range MaxAggregateActiveAlerts {
		al.Active = append(al.Active, AggregateAlert{Name: "IngotHighErrorRate", State: "firing", Summary: strings.Repeat("s", 200),
			Labels: map[string]string{"operation": strings.Repeat("o", i+1)}, Onset: at})
	}
	for range MaxAggregateResolvedAlerts {
		al.Resolved = append(al.Resolved, AggregateAlert{Name: "IngotStreamLag", State: "resolved", ResolvedAt: at})
	}
	data := aggregateWithAlerts(t, "d1", al)
	full := reflect.TypeFor[Aggregate]()
	var fields []reflect.StructField
	for i := range full.NumField() {
		if f := full.Field(i); f.Name != "Alerts" {
			fields = append(fields, f)
		}
	}
	older := reflect.StructOf(fields)
	if err := checkDecodeCost(data, older, maxAggregateDecodeBytes); err != nil {
		t.Fatalf("an older reader refuses an aggregate with alerts: %v", err)
	}
	if err := json.Unmarshal(data, reflect.New(older).Interface()); err != nil {
		t.Fatalf("an older reader cannot decode an aggregate with alerts: %v", err)
	}
	if _, err := DecodeAggregate(data); err != nil {
		t.Fatalf("decode at the caps: %v", err)
	}
}

// TestAggregateAlertsOfStaleDaemonLeave: a daemon silent past ExpireAfter is out of the
// merge, its alerts with it.
func TestAggregateAlertsOfStaleDaemonLeave(t *testing.T) {
	at := time.Now().UTC()
	now := at
	m := NewMerger(MergerConfig{MaxClockSkew: -1, Now: func() time.Time { return now }})
	al := &AggregateAlerts{At: at, Active: []AggregateAlert{{Name: "IngotHighErrorRate", State: "firing", Onset: at}}}
	if err := m.AddEncoded(aggregateWithAlerts(t, "d1", al)); err != nil {
		t.Fatal(err)
	}
	if got, ok := m.Alerts(); !ok || len(got.Active) != 1 {
		t.Fatalf("live daemon's alerts %+v (known %v)", got, ok)
	}
	now = at.Add(time.Minute)
	if got, ok := m.Alerts(); ok || len(got.Active) != 0 {
		t.Errorf("a stale daemon's alerts are still shown: %+v", got)
	}
}
