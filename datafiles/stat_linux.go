//go:build linux

package datafiles

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// statKey returns what identifies fi's content without reading it: device,
// inode, size, modification and change times (the change time cannot be
// set back by tools that preserve modification times), and the change
// time itself.
func statKey(fi os.FileInfo) (key string, changed time.Time, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", time.Time{}, false
	}
	changed = time.Unix(st.Ctim.Unix())
	key = fmt.Sprintf("%d:%d:%d:%d:%d", st.Dev, st.Ino, fi.Size(), fi.ModTime().UnixNano(), changed.UnixNano())
	return key, changed, true
}
