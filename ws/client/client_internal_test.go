package client

import (
	"context"
	"errors"
	"testing"
)

func TestWaitAck(t *testing.T) {
	closed := func() chan struct{} { c := make(chan struct{}); close(c); return c }
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		ack, done chan struct{}
		want      error
	}{
		{"ack", context.Background(), closed(), make(chan struct{}), nil},
		{"ack and end both there: the ack wins", context.Background(), closed(), closed(), nil},
		{"end without ack", context.Background(), make(chan struct{}), closed(), errEnded},
		{"context over", canceled, make(chan struct{}), make(chan struct{}), context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 200 { // select picks at random among ready cases: repeat
				if err := waitAck(tt.ctx, tt.ack, tt.done); !errors.Is(err, tt.want) {
					t.Fatalf("waitAck = %v, want %v", err, tt.want)
				}
			}
		})
	}
}
