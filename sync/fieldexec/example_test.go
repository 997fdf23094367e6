package fieldexec_test

import (
	"fmt"

	"dotmac.dev/field/sync/fieldexec"
)

func ExampleApply() {
	out, err := fieldexec.Apply(fieldexec.Input{
		Event:       fieldexec.EventComplete,
		From:        fieldexec.StatusInProgress,
		Evidence:    fieldexec.Evidence{Photos: 1, SignatureUnavailableReason: "customer not home"},
		GateEnabled: true,
	})
	fmt.Println(out.To, out.StopTimer, err)

	_, err = fieldexec.Apply(fieldexec.Input{Event: fieldexec.EventStart, From: fieldexec.StatusCompleted})
	fmt.Println(err)
	// Output:
	// completed true <nil>
	// Start is not allowed while the job is completed (only when scheduled or dispatched)
}

func ExampleWhyNot() {
	fmt.Println(fieldexec.WhyNot(fieldexec.EventComplete, fieldexec.StatusInProgress, fieldexec.Evidence{}))
	fmt.Println(fieldexec.AllowedEvents(fieldexec.StatusPaused))
	// Output:
	// At least one photo is required; a signature or signature_unavailable_reason is required
	// [en_route arrived resume unable_to_complete]
}
