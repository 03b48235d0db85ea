package testcluster

import (
	"slices"
	"testing"
)

func TestParseDirList(t *testing.T) {
	for in, want := range map[string][]string{
		"[/var/lib/cassandra/data]":    {"/var/lib/cassandra/data"},
		"[/data/a, /data/b/]":          {"/data/a", "/data/b"},
		"/var/lib/cassandra/data":      {"/var/lib/cassandra/data"},
		"[Ljava.lang.String;@606e4010": nil,
		"":                             nil,
	} {
		if got := parseDirList(in); !slices.Equal(got, want) {
			t.Errorf("parseDirList(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseFileList(t *testing.T) {
	got, err := parseFileList("2057937 nb-3-big-Data.db\n9 nb-3-big-Digest.crc32\n\n92 name with spaces.txt\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []File{{"nb-3-big-Data.db", 2057937}, {"nb-3-big-Digest.crc32", 9}, {"name with spaces.txt", 92}}
	if !slices.Equal(got, want) {
		t.Errorf("parseFileList = %v, want %v", got, want)
	}
	for _, bad := range []string{"nb-3-big-Data.db\n", "-1 x\n", "12\n", "12 \n", "x y\n"} {
		if _, err := parseFileList(bad); err == nil {
			t.Errorf("parseFileList(%q) succeeded", bad)
		}
	}
}

func TestCheckTable(t *testing.T) {
	if err := checkTable("sbit_1_x", "assignments"); err != nil {
		t.Error(err)
	}
	for _, bad := range [][2]string{{"ks", "t; DROP"}, {"k'", "t"}, {"", "t"}, {"ks", "a.b"}} {
		if err := checkTable(bad[0], bad[1]); err == nil {
			t.Errorf("checkTable(%q, %q) succeeded", bad[0], bad[1])
		}
	}
}
