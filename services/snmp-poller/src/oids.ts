/** The OIDs the seed polled (docs/REQUIREMENTS.md §7): field name -> numeric OID. sysName.0 becomes the `hostname` tag. */
export const OIDS: Record<string, string> = {
  sysUpTimeInstance: '1.3.6.1.2.1.1.3.0',
  sysName: '1.3.6.1.2.1.1.5.0',
  sysLocation: '1.3.6.1.2.1.1.6.0',
  ssIOSent: '1.3.6.1.4.1.2021.11.5.0',
  ssIOReceive: '1.3.6.1.4.1.2021.11.6.0',
  ssCpuUser: '1.3.6.1.4.1.2021.11.9.0',
  ssCpuSystem: '1.3.6.1.4.1.2021.11.10.0',
  ssCpuIdle: '1.3.6.1.4.1.2021.11.11.0',
  memTotalReal: '1.3.6.1.4.1.2021.4.5.0',
  memAvailReal: '1.3.6.1.4.1.2021.4.6.0',
  memTotalFree: '1.3.6.1.4.1.2021.4.11.0',
  dskTotal: '1.3.6.1.4.1.2021.9.1.6.1',
  dskAvail: '1.3.6.1.4.1.2021.9.1.7.1',
  dskUsed: '1.3.6.1.4.1.2021.9.1.8.1',
  dskPercent: '1.3.6.1.4.1.2021.9.1.9.1',
  // raw CPU tick counters: snmpd only fills the ssCpu* percentages above after a minute of its own sampling,
  // so the poller derives cpu_used_percent from these between two polls (available from the second poll on)
  ssCpuRawUser: '1.3.6.1.4.1.2021.11.50.0',
  ssCpuRawNice: '1.3.6.1.4.1.2021.11.51.0',
  ssCpuRawSystem: '1.3.6.1.4.1.2021.11.52.0',
  ssCpuRawIdle: '1.3.6.1.4.1.2021.11.53.0',
  ssCpuRawWait: '1.3.6.1.4.1.2021.11.54.0',
  ssCpuRawInterrupt: '1.3.6.1.4.1.2021.11.56.0',
  ssCpuRawSoftIRQ: '1.3.6.1.4.1.2021.11.61.0',
};
export const CPU_RAW = ['ssCpuRawUser', 'ssCpuRawNice', 'ssCpuRawSystem', 'ssCpuRawIdle', 'ssCpuRawWait', 'ssCpuRawInterrupt', 'ssCpuRawSoftIRQ'];
