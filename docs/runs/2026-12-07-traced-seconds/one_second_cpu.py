# One second's CPU per answer of a loaded server: run as
# python3 one_second_cpu.py PORT PID /threading, with app_threading --strategy pool --port PORT running.
import os, sys, time, subprocess, urllib.request, threading
port = int(sys.argv[1]); pid = int(sys.argv[2]); path = sys.argv[3]
HZ = os.sysconf('SC_CLK_TCK')
def cpu():
    # whole tree: the process (threads included) + children
    t = 0
    for p in [pid] + [int(x) for x in open(f'/proc/{pid}/task/{pid}/children').read().split()]:
        f = open(f'/proc/{p}/stat').read().rsplit(')',1)[1].split()
        t += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return t / HZ
def answers():
    m = urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics').read().decode()
    return sum(float(l.split()[-1]) for l in m.splitlines() if l.startswith('lab_http_requests_total{path="/threading"'))
def read(): return cpu(), answers()
def sched():
    return sum(int(open(f'/proc/{pid}/task/{t}/schedstat').read().split()[0]) for t in os.listdir(f'/proc/{pid}/task'))/1e9
def read():
    t0=time.monotonic(); c=cpu(); s=sched(); t1=time.monotonic(); a=answers(); t2=time.monotonic()
    return (c,a,t0,t1,t2,s)
for i in range(6):
    oha = subprocess.Popen(['oha','-z','2.6s','-c','20','--no-tui',f'http://127.0.0.1:{port}{path}'], stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    r=[read()]
    for k in range(2):
        time.sleep(1); r.append(read())
    for b,a in zip(r,r[1:]):
        print(f'cpu/s {(a[0]-b[0])/(a[2]-b[2]):.2f} sched/s {(a[5]-b[5])/(a[2]-b[2]):.2f} ans/s {(a[1]-b[1])/(a[4]-b[4]):.0f} ms/req {(a[0]-b[0])*1000/(a[1]-b[1]):.3f} sched ms/req {(a[5]-b[5])*1000/(a[1]-b[1]):.3f} metrics took {1000*(a[4]-a[3]):.1f} ms')
    oha.wait(); time.sleep(1)
