package storeurl

import "github.com/scoped-go/scoped/fallback/file"

// openFile opens the directory dir as a file store.
func openFile(dir string) (*Opened, error) {
	s, err := file.Open(dir)
	if err != nil {
		return nil, err
	}
	return &Opened{s, "directory " + dir, func() {}}, nil
}
