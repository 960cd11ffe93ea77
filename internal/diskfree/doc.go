// Package diskfree measures the free space of a file system: the SQLite
// store's readiness and jan up's warning before large image pulls.
package diskfree
