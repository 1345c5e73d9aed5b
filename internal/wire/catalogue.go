package wire

import "strings"

// Event names of the contract's catalogue (telemetry-wire-v1.md, "Event catalogue"), dotted
// and without the subject prefix.
const (
	EventLiveViewMount         = "ingot.live_view.mount"
	EventLabelSubmit           = "ingot.label.submit"
	EventComponentRender       = "ingot.component.render_sample"
	EventAssignmentAbandoned   = "ingot.assignment.abandoned"
	EventSampleCreated         = "forge.sample.created"
	EventArtifactUploaded      = "forge.artifact.uploaded"
	EventPipelineExecuted      = "forge.pipeline.executed"
	EventLabelSubmitted        = "anvil.label.submitted"
	EventAssignmentCompleted   = "anvil.assignment.completed"
	EventQueueStatsUpdated     = "anvil.queue.stats_updated"
	EventAgreementCalculated   = "anvil.agreement.calculated"
	EventQueueModified         = "anvil.queue.modified"
	EventExportCompleted       = "anvil.export.completed"
	ForgeClientPrefix          = "ingot.forge_client." // + operation, e.g. get_sample
	AnvilClientPrefix          = "ingot.anvil_client." // + operation, e.g. submit_label
	ExampleForgeClientGet      = ForgeClientPrefix + "get_sample"
	ExampleAnvilClientSubmit   = AnvilClientPrefix + "submit_label"
	ExampleForgeClientHealth   = ForgeClientPrefix + "health_check"
	ExampleAnvilClientHealth   = AnvilClientPrefix + "health_check"
	ExampleAnvilClientAssign   = AnvilClientPrefix + "fetch_assignment"
	serviceForge, serviceAnvil = "forge", "anvil"
)

// Catalogue lists the fixed event names in the contract's order (a new slice each call). The
// client-call families (ForgeClientPrefix, AnvilClientPrefix) are open-ended and not listed.
func Catalogue() []string {
	return []string{
		EventLiveViewMount, EventLabelSubmit, EventComponentRender, EventAssignmentAbandoned,
		EventSampleCreated, EventArtifactUploaded, EventPipelineExecuted,
		EventLabelSubmitted, EventAssignmentCompleted, EventQueueStatsUpdated,
		EventAgreementCalculated, EventQueueModified, EventExportCompleted,
	}
}

// Known reports whether name (dotted, without prefix) is in the contract's catalogue.
// Any ingot.forge_client.<operation> and ingot.anvil_client.<operation> counts as known.
// Unknown names are still valid events; callers count and list them.
func Known(name string) bool {
	switch name {
	case EventLiveViewMount, EventLabelSubmit, EventComponentRender, EventAssignmentAbandoned,
		EventSampleCreated, EventArtifactUploaded, EventPipelineExecuted,
		EventLabelSubmitted, EventAssignmentCompleted, EventQueueStatsUpdated,
		EventAgreementCalculated, EventQueueModified, EventExportCompleted:
		return true
	}
	return isClientCall(name, ForgeClientPrefix) || isClientCall(name, AnvilClientPrefix)
}

// ClientOperation returns the operation of an ingot.forge_client.* or ingot.anvil_client.*
// event ("get_sample") and the service it calls ("forge" or "anvil"); ok is false otherwise.
func ClientOperation(name string) (service, operation string, ok bool) {
	if isClientCall(name, ForgeClientPrefix) {
		return serviceForge, name[len(ForgeClientPrefix):], true
	}
	if isClientCall(name, AnvilClientPrefix) {
		return serviceAnvil, name[len(AnvilClientPrefix):], true
	}
	return "", "", false
}

// isClientCall accepts any non-empty operation after the family prefix.
func isClientCall(name, prefix string) bool {
	return len(name) > len(prefix) && strings.HasPrefix(name, prefix)
}

// ServiceOf names the service an event is about: Ingot's client calls are attributed to
// the service they call (ingot.forge_client.* → "forge", ingot.anvil_client.* → "anvil");
// otherwise it is the emitting application, the first segment ("ingot", "forge", "anvil",
// or whatever an unknown emitter calls itself).
func ServiceOf(name string) string {
	if service, _, ok := ClientOperation(name); ok {
		return service
	}
	if i := strings.IndexByte(name, '.'); i >= 0 {
		return name[:i]
	}
	return name
}

// IsAudit reports whether name belongs on the compliance trail.
func IsAudit(name string) bool {
	switch name {
	case EventLabelSubmitted, EventQueueModified, EventExportCompleted:
		return true
	}
	return false
}
