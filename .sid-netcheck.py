import asyncio, socket, struct, multiprocessing as mp, concurrent.futures as cf, os, sys

async def tcp_check():
    async def handle(r, w):
        w.write((await r.readline()).upper()); await w.drain(); w.close()
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"hello\n"); await w.drain()
    data = await r.readline(); w.close(); srv.close(); await srv.wait_closed()
    return data

def mcast_check():
    grp, port = "224.0.0.251", 0
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    rx.bind(("", 0)); port = rx.getsockname()[1]
    rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                  socket.inet_aton(grp) + socket.inet_aton("127.0.0.1"))
    rx.settimeout(3)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    tx.sendto(b"mcast-ping", (grp, port))
    return rx.recvfrom(100)

def zeroconf_check():
    from zeroconf import Zeroconf, ServiceInfo, IPVersion
    a = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    b = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    info = ServiceInfo("_howdyscreen._tcp.local.", "probe._howdyscreen._tcp.local.",
                       addresses=[socket.inet_aton("127.0.0.1")], port=6053,
                       properties={"mac": "001122334455"}, server="probe.local.")
    a.register_service(info)
    got = b.get_service_info("_howdyscreen._tcp.local.", "probe._howdyscreen._tcp.local.", timeout=3000)
    a.close(); b.close()
    return got and (got.port, got.properties)

def sq(x): return x * x

print("tcp:", asyncio.run(tcp_check()))
print("multicast:", mcast_check())
print("zeroconf over loopback:", zeroconf_check())
lock = mp.Lock(); lock.acquire(); lock.release()
with mp.get_context("spawn").Pool(2) as p: print("mp spawn pool:", p.map(sq, range(4)))
with cf.ProcessPoolExecutor(2) as ex: print("ProcessPoolExecutor:", list(ex.map(sq, range(3))))
from multiprocessing import shared_memory
s = shared_memory.SharedMemory(create=True, size=16); s.close(); s.unlink(); print("shared_memory ok")
print("urandom:", len(os.urandom(8)), "cpu_count:", os.cpu_count(), "tmp:", os.listdir("/tmp"))
