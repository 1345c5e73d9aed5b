package wire

import "testing"

func TestCatalogue(t *testing.T) {
	for _, name := range Catalogue() {
		if !Known(name) {
			t.Errorf("Known(%q) = false", name)
		}
	}
	for name, want := range map[string]bool{
		"ingot.forge_client.get_sample": true, "ingot.anvil_client.anything_new": true,
		"ingot.forge_client": false, "ingot.forge_client.": false, "acme.thing.done": false, "anvil.label": false,
	} {
		if Known(name) != want {
			t.Errorf("Known(%q) != %v", name, want)
		}
	}
	for name, want := range map[string]string{
		"ingot.forge_client.get_sample": "forge", "ingot.anvil_client.submit_label": "anvil",
		"forge.sample.created": "forge", "anvil.label.submitted": "anvil", "ingot.label.submit": "ingot",
		"acme.thing.done": "acme",
	} {
		if got := ServiceOf(name); got != want {
			t.Errorf("ServiceOf(%q) = %q, want %q", name, got, want)
		}
	}
	for name, want := range map[string]bool{
		EventLabelSubmitted: true, EventQueueModified: true, EventExportCompleted: true,
		EventLabelSubmit: false, EventAssignmentCompleted: false,
	} {
		if IsAudit(name) != want {
			t.Errorf("IsAudit(%q) != %v", name, want)
		}
	}
	if s, op, ok := ClientOperation("ingot.anvil_client.fetch_assignment"); !ok || s != "anvil" || op != "fetch_assignment" {
		t.Errorf("ClientOperation = %q %q %v", s, op, ok)
	}
}
