package main

import (
	"testing"
	"time"

	"github.com/orderq/orderq/shared/testenv"
)

func TestLoadConfigRejectedRetention(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  time.Duration
		bad   bool
	}{
		{"default a week", "", 7 * 24 * time.Hour, false},
		{"zero keeps every order", "0", 0, false},
		{"a duration", "720h", 720 * time.Hour, false},
		{"below zero", "-1h", 0, true},
		{"not a duration", "7d", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(testenv.Env(map[string]string{"REJECTED_RETENTION": tt.value}))
			if tt.bad {
				if err == nil {
					t.Fatalf("REJECTED_RETENTION=%q accepted as %s", tt.value, cfg.RejectedRetention)
				}
				return
			}
			if err != nil {
				t.Fatalf("REJECTED_RETENTION=%q: %v", tt.value, err)
			}
			if cfg.RejectedRetention != tt.want {
				t.Errorf("REJECTED_RETENTION=%q: %s, want %s", tt.value, cfg.RejectedRetention, tt.want)
			}
		})
	}
}
