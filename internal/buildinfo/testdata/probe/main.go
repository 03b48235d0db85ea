// Command probe prints what package buildinfo says, for buildinfo's
// ldflags test.
package main

import (
	"fmt"

	"github.com/stickybucket/stickybucket/internal/buildinfo"
)

func main() { fmt.Println(buildinfo.Version(), buildinfo.Commit()) }
