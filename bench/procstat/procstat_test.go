package procstat

import (
	"os"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Parallel()
	got, err := Parse("server=12,postgres=34,", "cpu", "client")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (Proc{"server", 12}) || got[1] != (Proc{"postgres", 34}) {
		t.Errorf("got %v, want server=12 and postgres=34", got)
	}
	for _, bad := range []string{"server", "server=x", "=12", "server=0", "client=12"} {
		if _, err := Parse(bad, "cpu", "client"); err == nil {
			t.Errorf("Parse(%q): got no error, want one", bad)
		}
	}
}

func TestCPU(t *testing.T) {
	t.Parallel()
	// Burn some CPU, then this process's counters must have moved.
	before, err := CPU(os.Getpid(), false)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
	}
	after, err := Tree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Errorf("got CPU %v after spinning, want more than %v", after, before)
	}
	if Self() <= 0 {
		t.Error("got no CPU time for this process")
	}
}
