package importer

// Column maps for the public datasets that Yui's tests and demo load, in
// the syntax of ParseMap.
const (
	// ULBReadingsMap names the columns of the ULB library sensing files
	// R1.txt to R3.txt. They hold the arrival time in epoch milliseconds,
	// the node id, the node's sequence number, internal temperature and
	// voltage, humidity, temperature, and the PAR and TSR light values, as
	// the Tmote Sky motes report them.
	ULBReadingsMap = "time=0:unix_ms,source=1,seq=2,internal_temp=3,internal_voltage=4,humidity=5,temperature=6,par=7,tsr=8"
	// ULBLinksMap names the columns of the ULB library neighbour files such
	// as N1.txt. They hold the arrival time, sequence number, packet number
	// in the sequence, the node that sent the packet, the neighbour it
	// measured, and the raw LQI and RSSI of that link. The raw LQI needs the ULB
	// transformation before use: 383 - lqi above 128, else 128 - lqi.
	ULBLinksMap = "time=0:unix_ms,seq=1,packet=2,source=3,neighbour=4,lqi_raw=5,rssi=6"
)
