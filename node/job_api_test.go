package node

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
)

// TestJobInvalidRangeNamedOnce checks that a job whose time range is
// empty fails with status 400 and an error that names the range. The
// error is both an invalid job and an invalid query, and it must carry
// the API's "invalid request" prefix once.
func TestJobInvalidRangeNamedOnce(t *testing.T) {
	_, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := clients[0].PutRecord(ctx, "", "lab", "note", strings.NewReader("x"), 1, "text/plain"); err != nil {
		t.Fatal(err)
	}
	from := time.Date(2006, 11, 14, 0, 0, 0, 0, time.UTC)
	to := from.Add(-24 * time.Hour)
	req := api.JobRequest{Query: api.QueryRequest{From: &from, To: &to}, Aggregates: []string{"count"}}

	_, err := clients[0].SubmitJob(ctx, "", "lab", req)
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
		t.Fatalf("SubmitJob with --from after --to: %v, want status 400", err)
	}
	if !strings.Contains(err.Error(), "time range from 2006-11-14T00:00:00Z to 2006-11-13T00:00:00Z is empty") {
		t.Errorf("error %q does not name the empty range", err)
	}
	if n := strings.Count(err.Error(), api.ErrInvalid.Error()); n != 1 {
		t.Errorf("error %q has %q %d times, want once", err, api.ErrInvalid.Error(), n)
	}
}

// TestJobCellSizeNeedsCellGrouping checks that a job request with a cell
// size but no grouping by cell fails with status 400, instead of running
// with the size ignored.
func TestJobCellSizeNeedsCellGrouping(t *testing.T) {
	_, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := clients[0].PutRecord(ctx, "", "lab", "note", strings.NewReader("x"), 1, "text/plain"); err != nil {
		t.Fatal(err)
	}
	req := api.JobRequest{Aggregates: []string{"count"}, By: "sensor,day", CellSize: 5}

	_, err := clients[0].SubmitJob(ctx, "", "lab", req)
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
		t.Fatalf("SubmitJob with cell_size 5 by sensor,day: %v, want status 400", err)
	}
	if !strings.Contains(err.Error(), `cell_size 5 needs "cell" in by`) {
		t.Errorf("error %q does not name the cell size and the missing grouping", err)
	}
}

// TestUnknownJobNamesJobList checks that the status of a job this node
// did not submit fails with status 404 and a fix that points to the job
// list, not to the record listing of a namespace.
func TestUnknownJobNamesJobList(t *testing.T) {
	_, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	_, err := clients[0].Job(ctx, "0123456789abcdef")
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusNotFound {
		t.Fatalf("Job of an unknown ID: %v, want status 404", err)
	}
	if !strings.Contains(err.Error(), `unknown job "0123456789abcdef"`) {
		t.Errorf("error %q does not name the job", err)
	}
	if !strings.Contains(err.Error(), "yui job ls") {
		t.Errorf("error %q does not point to 'yui job ls'", err)
	}
	if strings.Contains(err.Error(), "record not found") || strings.Contains(err.Error(), "yui ls NAMESPACE") {
		t.Errorf("error %q treats the job as a record", err)
	}
}

// TestJobListShowsState checks that the job list gives each job's state,
// so that a user sees which jobs ended without asking for each status.
func TestJobListShowsState(t *testing.T) {
	_, clients := startTrio(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	grantJobsReader(ctx, t, clients, "library")
	if _, err := clients[0].WriteReadings(ctx, "", "library", ulbReadings(t, 100)); err != nil {
		t.Fatal(err)
	}
	req := api.JobRequest{Aggregates: []string{"count"}, By: "sensor", Reader: "jobs", SegmentsPerUnit: 1}
	done, err := clients[0].SubmitJob(ctx, "", "library", req)
	if err != nil {
		t.Fatal(err)
	}
	// The state is from the moment of the response, and a job of a few
	// units may be over by then.
	if done.State != "running" && done.State != "done" {
		t.Errorf("submitted job's state %q, want running or done", done.State)
	}
	waitJobDone(ctx, t, clients[0], done.ID)
	stopped, err := clients[0].SubmitJob(ctx, "", "library", req)
	if err != nil {
		t.Fatal(err)
	}
	st, err := clients[0].CancelJob(ctx, stopped.ID)
	if err != nil {
		t.Fatal(err)
	}
	// A job of a few units may end before the cancel reaches it.
	wantStopped := "canceled"
	if !st.Canceled {
		wantStopped = "done"
	}

	jobs, err := clients[0].Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{done.ID: "done", stopped.ID: wantStopped}
	if len(jobs) != len(want) {
		t.Fatalf("Jobs lists %d jobs, want %d", len(jobs), len(want))
	}
	for _, j := range jobs {
		if j.State != want[j.ID] {
			t.Errorf("job %s: state %q, want %q", j.ID, j.State, want[j.ID])
		}
	}
}
