package workorder_test

import (
	"net/http"
	"testing"
)

func TestDemoData(t *testing.T) {
	e := setup(t)
	var list struct {
		Items []wo `json:"items"`
		Total int  `json:"total"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/work-orders?limit=100", e.disp, nil, &list)
	if list.Total < 35 {
		t.Fatalf("demo work orders: %d", list.Total)
	}
	var jobs struct {
		Items []struct {
			ID, Status string
			IsPrimary  bool `json:"is_primary"`
		} `json:"items"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/field/jobs?status=scheduled,dispatched", e.tech1, nil, &jobs)
	if len(jobs.Items) < 5 {
		t.Fatalf("tech1 jobs: %+v", jobs.Items)
	}
	var cust struct{ Total int }
	e.must(http.StatusOK, "GET", "/api/v1/customers?limit=5", e.disp, nil, &cust)
	if cust.Total != 50 {
		t.Fatalf("customers: %d", cust.Total)
	}
	var techs struct{ Total int }
	e.must(http.StatusOK, "GET", "/api/v1/technicians", e.disp, nil, &techs)
	if techs.Total != 3 {
		t.Fatalf("technicians: %d", techs.Total)
	}
}
