package quicnet

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// reserveAsync starts a reservation of n bytes and returns the channel
// its result arrives on.
func reserveAsync(ctx context.Context, b *budget, n int) chan error {
	done := make(chan error, 1)
	go func() { done <- b.reserve(ctx, n) }()
	return done
}

// pending reports whether a reservation started by reserveAsync has not
// returned. Call it after synctest.Wait.
func pending(done chan error) bool {
	select {
	case err := <-done:
		done <- err
		return false
	default:
		return true
	}
}

func TestBudgetServesWaitersInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := newBudget(4)
		if err := b.reserve(ctx, 3); err != nil {
			t.Fatal(err)
		}

		// large does not fit, and small, which would fit, queues behind it.
		large := reserveAsync(ctx, b, 2)
		synctest.Wait()
		small := reserveAsync(ctx, b, 1)
		synctest.Wait()
		if !pending(large) || !pending(small) {
			t.Fatal("a reservation returned while an earlier one still waits for bytes")
		}

		b.release(3)
		synctest.Wait()
		if err := <-large; err != nil {
			t.Errorf("large reservation: %v", err)
		}
		if err := <-small; err != nil {
			t.Errorf("small reservation: %v", err)
		}
		if got := b.used(); got != 3 {
			t.Errorf("used = %d, want 3", got)
		}
	})
}

func TestBudgetWaitEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(4)
		if err := b.reserve(context.Background(), 4); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()

		// The reservation at the head gives up, which lets the one
		// behind it through.
		head := reserveAsync(ctx, b, 4)
		synctest.Wait()
		behind := reserveAsync(context.Background(), b, 0)
		synctest.Wait()
		if !pending(behind) {
			t.Fatal("a reservation overtook an earlier waiter")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if err := <-head; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("reservation past its deadline: error = %v, want DeadlineExceeded", err)
		}
		if err := <-behind; err != nil {
			t.Errorf("reservation behind the expired one: %v", err)
		}
		if got := b.used(); got != 4 {
			t.Errorf("used = %d, want 4: the expired reservation must take nothing", got)
		}
	})
}

func TestBudgetLargerThanSizeWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(4)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := b.reserve(ctx, 5); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("reservation above the size: error = %v, want DeadlineExceeded", err)
		}
		if got := b.used(); got != 0 {
			t.Errorf("used = %d, want 0", got)
		}
	})
}

func TestBudgetsReserveAllOrNone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conn, shared := newBudget(8), newBudget(4)
		chain := budgets{conn, shared}
		if err := chain.reserve(context.Background(), 3); err != nil {
			t.Fatal(err)
		}

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := chain.reserve(ctx, 3); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("reservation that the shared budget cannot fit: error = %v, want DeadlineExceeded", err)
		}
		if got := conn.used(); got != 3 {
			t.Errorf("connection budget used = %d after a failed reservation, want 3", got)
		}

		chain.release(3)
		if got, got2 := conn.used(), shared.used(); got != 0 || got2 != 0 {
			t.Errorf("used = %d and %d after release, want 0 and 0", got, got2)
		}
	})
}
