package cmd

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mattn/go-runewidth"
)

// Columns line up by display width: a CJK character or an emoji takes two
// columns on screen, and the cells after it start where the others do.
func TestWriteTableWideCharacters(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	err := writeTable(&b, []string{"COMMAND", "QUEUE", "STATE"}, [][]string{
		{"echo 日本語", "a", "pending"},
		{"echo 🎉", "b", "dead"},
		{"echo plain", "c", "succeeded"},
		{"", "d", "running 40%"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "" +
		"COMMAND      QUEUE  STATE\n" +
		"echo 日本語  a      pending\n" +
		"echo 🎉      b      dead\n" +
		"echo plain   c      succeeded\n" +
		"             d      running 40%\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// Piped, nothing is cut, however long; a cell stays on one line.
func TestWriteTablePipedUncut(t *testing.T) {
	t.Parallel()
	long := "rsync -a /data/" + strings.Repeat("very/long/path/", 20) + " backup:/data"
	var b bytes.Buffer
	if err := writeTable(&b, []string{"ID", "COMMAND"}, [][]string{{"1", long}, {"2", "printf 'a\nb'\tx"}}); err != nil {
		t.Fatal(err)
	}
	want := "ID  COMMAND\n1   " + long + "\n2   printf 'a b' x\n"
	if b.String() != want {
		t.Errorf("table:\n%q\nwant:\n%q", b.String(), want)
	}
}

// On a terminal, the widest cells are cut with an ellipsis so that every
// line fits; narrow columns are left whole.
func TestWriteTableFitsTerminal(t *testing.T) {
	t.Parallel()
	rows := [][]string{
		{"1", "default", "pending", "tar czf /backup/home.tgz /home && echo done with the backup", "disk full: no space left on device"},
		{"12", "mail", "dead", "sendmail -t < /var/spool/report-日本語-emoji-🎉-and-more.txt", ""},
	}
	for _, width := range []int{60, 80, 100} {
		var b bytes.Buffer
		if err := writeTable(sizedWriter{&b, width}, []string{"ID", "QUEUE", "STATE", "COMMAND", "LAST ERROR"}, rows); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != 3 {
			t.Fatalf("width %d: %d lines, want 3:\n%s", width, len(lines), b.String())
		}
		for _, l := range lines {
			if w := (&runewidth.Condition{}).StringWidth(l); w > width {
				t.Errorf("width %d: line is %d wide: %q", width, w, l)
			}
		}
		if !strings.Contains(lines[1], "…") {
			t.Errorf("width %d: the long command was not cut: %q", width, lines[1])
		}
		if !strings.HasPrefix(lines[2], "12  mail     dead     ") {
			t.Errorf("width %d: narrow columns were cut: %q", width, lines[2])
		}
	}
	// Wide enough: nothing is cut.
	var b bytes.Buffer
	if err := writeTable(sizedWriter{&b, 300}, []string{"ID", "COMMAND"}, rows); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "…") {
		t.Errorf("cut on a wide terminal:\n%s", b.String())
	}
}
