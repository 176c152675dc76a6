// Package housekeeping logs the daemon's stats line: Housekeeping
// (NewHousekeeping) reads the metrics registry every interval on its own
// timer, released on Stopping and Restarting.
package housekeeping
