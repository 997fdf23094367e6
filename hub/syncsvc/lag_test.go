package syncsvc_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"dotmac.dev/field/hub/hubtest"
)

// The per-device lag gauges (one listing of the streams for every device): a tablet that is
// connected but does not consume shows its unacknowledged feed; one that keeps up shows none.
func TestMetrics_DeviceLag(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	idle := h.enroll(h.techs["tech1@example.com"], "idle")
	busy := h.enroll(h.techs["tech2@example.com"], "busy")
	f := busy.consume()
	// idle takes its first job, then stops consuming (its durable consumer stays).
	fi := idle.consume()
	wo := h.createWorkOrder(h.techs["tech1@example.com"])
	hubtest.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		if _, ok := fi.latest("work_order", wo); !ok {
			return errNotYet
		}
		return nil
	})
	fi.cancel()
	<-fi.done
	h.createWorkOrder(h.techs["tech1@example.com"])
	wo2 := h.createWorkOrder(h.techs["tech2@example.com"])
	hubtest.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		if _, ok := f.latest("work_order", wo2); !ok {
			return errNotYet
		}
		return nil
	})
	gauge := func(name, dev string) (float64, bool) {
		r := h.env.Do("GET", "/metrics", "", nil)
		m := regexp.MustCompile(name + `\{device_id="` + dev + `"\} (\S+)`).FindStringSubmatch(string(r.Body))
		if m == nil {
			return 0, false
		}
		v, err := strconv.ParseFloat(m[1], 64)
		return v, err == nil
	}
	hubtest.CheckFor(t, 15*time.Second, 100*time.Millisecond, func() error {
		h.svc.RefreshLag(ctx)
		n, ok := gauge("dmf_sync_device_down_pending", idle.enr.DeviceID)
		if !ok || n < 1 {
			return fmt.Errorf("idle device down pending %v (%v)", n, ok)
		}
		if n, ok := gauge("dmf_sync_device_down_pending", busy.enr.DeviceID); !ok || n != 0 {
			return fmt.Errorf("busy device down pending %v (%v)", n, ok)
		}
		for _, d := range []*device{idle, busy} {
			if n, ok := gauge("dmf_sync_device_up_pending", d.enr.DeviceID); !ok || n != 0 {
				return fmt.Errorf("up pending %v (%v)", n, ok)
			}
		}
		return nil
	})
}
