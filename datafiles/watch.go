package datafiles

import (
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// startWatch watches the directories of files' paths and returns the
// slots it could not watch, to be polled instead. Directories rather than
// files are watched because a file replaced by rename, or deleted and
// created again, is a new inode that a watch on the old one never sees;
// any event in a directory makes its datafiles refresh, which is a stat
// when they did not change (this also catches a symbolic link swapped in
// the directory, as Kubernetes does with mounted ConfigMaps).
func (s *Set) startWatch(files []*slot) (polled []*slot) {
	if len(files) == 0 {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Warn("cannot watch datafiles; polling them instead", "error", err, "interval", s.poll)
		return files
	}
	byDir := make(map[string][]*slot)
	for _, sl := range files {
		path := sl.src.(watched).watchedPath()
		abs, err := filepath.Abs(path)
		if err == nil {
			dir := filepath.Dir(abs)
			if _, ok := byDir[dir]; !ok {
				err = w.Add(dir)
			}
			if err == nil {
				byDir[dir] = append(byDir[dir], sl)
				continue
			}
		}
		s.log.Warn("cannot watch datafile; polling it instead", "sdk_key", sl.key, "path", path, "error", err, "interval", s.poll)
		polled = append(polled, sl)
	}
	if len(byDir) == 0 {
		_ = w.Close()
		return polled
	}
	s.workers.Go(func() { s.watchLoop(w, byDir) })
	return polled
}

// watchLoop turns file system events into refreshes until Close. Events
// are coalesced: the datafiles of the directories that had events are
// refreshed once WatchDelay has passed without another event, or
// 10×WatchDelay after the first, whichever is sooner.
func (s *Set) watchLoop(w *fsnotify.Watcher, byDir map[string][]*slot) {
	defer w.Close()
	pending := make(map[*slot]bool)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var first time.Time // of the events not yet acted on; zero if none
	mark := func(slots []*slot) {
		for _, sl := range slots {
			pending[sl] = true
		}
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		wait := min(s.delay, first.Add(10*s.delay).Sub(now))
		timer.Reset(max(wait, 0))
	}
	for {
		select {
		case <-s.life.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if slots := byDir[ev.Name]; len(slots) > 0 && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				// A watched directory itself went away: its watch is
				// gone, so poll its datafiles from now on.
				s.log.Warn("datafile directory removed; polling its datafiles instead", "dir", ev.Name, "interval", s.poll)
				delete(byDir, ev.Name)
				for _, sl := range slots {
					s.workers.Go(func() { s.pollLoop(sl) })
				}
				mark(slots)
			}
			if slots := byDir[filepath.Dir(ev.Name)]; len(slots) > 0 {
				mark(slots)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			// Events may have been lost (queue overflow): look at all.
			s.log.Warn("watching datafiles", "error", err)
			for _, slots := range byDir {
				mark(slots)
			}
		case <-timer.C:
			first = time.Time{}
			for sl := range pending {
				delete(pending, sl)
				// Failures are reported through OnLoad and the log.
				_ = s.refresh(s.life, sl, false)
			}
		}
	}
}
