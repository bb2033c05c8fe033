"""``plantwire sim``: a virtual bottling line served over Modbus TCP, OPC UA, S7 and EtherNet/IP.

Independent of the runtime and the node types (it imports neither), so tests of the
nodes against it are tests against a real peer. See docs/sim.md.
"""
