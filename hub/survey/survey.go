// Package survey is the hub's surveys: wireless site surveys with line-of-sight analysis (reference
// §3.14), survey forms that technicians fill in on site, and fiber test results judged against the
// link's loss budget.
package survey
