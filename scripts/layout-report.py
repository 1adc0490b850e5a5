"""Import circles between the files of src/, and counts of pub items."""
import os, re, sys
from collections import defaultdict
root = sys.argv[1] if len(sys.argv) > 1 else "src"

def module_of(path):
    rel = os.path.relpath(path, root)[:-3]
    parts = rel.split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)

files = {}
for dirpath, _, names in os.walk(root):
    for n in names:
        if n.endswith(".rs") and not (n == "main.rs" and dirpath.rstrip("/") == root.rstrip("/")):
            p = os.path.join(dirpath, n)
            files[module_of(p)] = p
mods = set(files)

def resolve(cur, path):
    # cur: module tuple; path: list of segments starting with crate/super/self
    segs = list(path)
    if segs[0] == "crate":
        base = (); segs = segs[1:]
    elif segs[0] in ("super", "self"):
        base = cur
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super": base = base[:-1]
            segs = segs[1:]
    elif cur + (segs[0],) in mods:
        base = cur
    else:
        return None
    # longest prefix that is a file module
    best = None
    for i in range(len(segs), -1, -1):
        cand = base + tuple(segs[:i])
        if cand in mods:
            best = cand; break
    return best

edges = defaultdict(set)
use_re = re.compile(r"\buse\s+((?:[a-z_][a-z_0-9]*)(?:::[A-Za-z_0-9]+)*)(::\{([^;]*)\})?", re.S)
path_re = re.compile(r"\b((?:crate|super)(?:::[A-Za-z_][A-Za-z_0-9]*)+)")
for m, p in files.items():
    text = open(p).read()
    # strip test modules: cycles through tests don't count
    text = re.split(r"#\[cfg\(test\)\]\s*mod tests\s*\{", text)[0]
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"pub\(in [^)]*\)", "pub", text)
    for mm in use_re.finditer(text):
        head = mm.group(1).split("::")
        inner = mm.group(3)
        targets = []
        if inner:
            for item in re.split(r",", inner):
                item = item.strip().split(" as ")[0].strip()
                if not item: continue
                targets.append(head + [s for s in item.replace("{", "").replace("}", "").split("::") if s and s != "self"])
        else:
            targets.append(head)
        for t in targets:
            r = resolve(m, t)
            if r is not None and r != m and not (len(r) < len(m) and m[:len(r)] == r and len(t) == len(r)):
                edges[m].add(r)
    for mm in path_re.finditer(text):
        r = resolve(m, mm.group(1).split("::"))
        if r is not None and r != m:
            edges[m].add(r)
# drop edges to an ancestor module that only declares children (mod.rs re-exports count though)
# Tarjan SCC
index = {}; low = {}; stack = []; on = set(); sccs = []; counter = [0]
sys.setrecursionlimit(10000)
def strong(v):
    index[v] = low[v] = counter[0]; counter[0] += 1; stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index:
            strong(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(comp)
for v in sorted(mods):
    if v not in index: strong(v)
if "-v" in sys.argv:
    for c in sccs:
        for a in sorted(c):
            print("  ", "/".join(a), "->", sorted("/".join(b) for b in edges[a] if b in c))
name = lambda m: "/".join(m) or "lib"
print(f"files: {len(files)}")
print(f"import circles: {len(sccs)}")
for c in sorted(sccs, key=len, reverse=True):
    print(f"  {len(c)} files: " + ", ".join(sorted(name(m) for m in c)))
pub = 0; pubmod = 0
for p in files.values():
    text = open(p).read()
    text = re.split(r"#\[cfg\(test\)\]\s*mod tests\s*\{", text)[0]
    pub += len(re.findall(r"^\s*pub\s+(?:fn|struct|enum|const|static|trait|type|mod|use|unsafe fn|async fn)\b", text, re.M))
    pub += len(re.findall(r"^\s*pub\s+[a-z_][a-z_0-9]*\s*:", text, re.M))  # pub fields
    pubmod += len(re.findall(r"^\s*pub\s+mod\b", text, re.M))
print(f"pub items (fns, types, consts, fields, uses): {pub}; pub mods: {pubmod}")

def exported(m):
    # a module is reachable from outside when every step down is `pub mod`
    for i in range(1, len(m) + 1):
        parent = files.get(m[:i-1]) 
        if parent is None: return False
        t = open(parent).read()
        if not re.search(r"^\s*pub\s+mod\s+" + m[i-1] + r"\b", t, re.M):
            return False
    return True
api = 0
for m, p in files.items():
    if m and exported(m):
        text = re.split(r"#\[cfg\(test\)\]\s*mod tests\s*\{", open(p).read())[0]
        api += len(re.findall(r"^\s*pub\s+(?:fn|struct|enum|const|static|trait|type|mod|use|unsafe fn)\b", text, re.M))
        api += len(re.findall(r"^\s*pub\s+[a-z_][a-z_0-9]*\s*:", text, re.M))
lib = open(files[()]).read()
api += len(re.findall(r"^\s*pub\s+use\b", lib, re.M))
print(f"pub items reachable from outside the crate: {api}")
