-- The demo stream reads the simulator source configured in etc/sources/simulator.yaml.
CREATE STREAM demo (deviceId string, temperature float, humidity bigint)
  WITH (DATASOURCE="demo", TYPE="simulator", FORMAT="json");
