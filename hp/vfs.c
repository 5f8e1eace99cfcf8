/* The file tree in RAM (normal and HP mode alike): a tmpfs at `/` seeded from the tar image
 * (hp/README.md "Files"). Every entry of the image becomes a node when the tree is first
 * used: directories (those the image lists and those its names imply), regular files whose
 * bytes stay in the image until the first write copies them into pages of their own, and
 * symbolic links. Then the tree is a small Unix file system: files and directories made,
 * written, truncated, renamed, linked and removed, links followed, times and modes kept.
 *
 * One mutex guards it all (the tree, every node's data); copies to and from the app are
 * made under it (a copy helper's fault on a page not touched yet is served in place, never
 * a sleep). A node lives while names or open descriptions hold it: a file removed while
 * open stays readable and writable through its descriptors, and goes with the last. */
#include "hp/vfs.h"

#include "hp/hp.h"

#include "common/console.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "lib/tar.h"
#include "mm/mm.h"
#include "sched/sched.h"
#include "sched/sync.h"

#define S_IFMT	 0170000
#define S_IFDIR	 0040000
#define S_IFREG	 0100000
#define S_IFLNK	 0120000
#define LINKS_MAX 40 /* links followed in one lookup, as Linux's ELOOP bound */
#define PAGE_SZ	 4096ull

struct dentry {
	struct dentry *next; /* in the directory's list, in the order made */
	struct vnode *node;
	char name[]; /* NUL-terminated, at most NAME_MAX */
};

struct vnode {
	uint32_t mode; /* type and permissions */
	uint32_t uid, gid;
	uint64_t ino;
	uint32_t nlink; /* names (a directory: 2 + its subdirectories) */
	uint32_t refs;	/* names + open descriptions + lookups under way */
	uint64_t atime, mtime, ctime; /* ns since 1970 */
	uint64_t size;
	/* a directory */
	struct dentry *children;
	struct vnode *parent; /* (the root's is itself) */
	struct dentry *self;  /* its name in the parent (NULL: the root, or removed) */
	/* a regular file: the image's bytes until the first change, then pages */
	const uint8_t *image;
	uint8_t **pages;
	uint64_t npages; /* room in pages[] */
	/* a symbolic link */
	char *target;
	/* a program's pages as exec maps them (vfs_exec_page): pfn + 1 per page, 0 where not
	 * made yet; gen counts the changes of the bytes (each drops the pages) */
	uint32_t *exec_pages;
	uint64_t nexec, gen;
	struct vnode *exec_next, *exec_prev; /* the nodes that have such pages */
};

static struct mutex lock = MUTEX_INIT(lock);
static struct vnode *root;
static const uint8_t *seed;
static size_t seed_len;
static bool seeded;
static uint64_t next_ino = 2;
static uint64_t data_pages; /* pages held by files (vfs_stats) */
static struct vnode *exec_nodes; /* those with program pages */
static uint64_t exec_held;	/* their pages */
static bool reclaim_exec_pages(void);

static uint64_t now_ns(void)
{
	uint64_t t = wallclock_ns();

	return t ? t : clock_ns();
}

static struct vnode *node_new(uint32_t mode)
{
	struct vnode *n = kcalloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->mode = mode;
	n->ino = next_ino++;
	n->atime = n->mtime = n->ctime = now_ns();
	return n;
}

static bool is_dir(const struct vnode *n)
{
	return (n->mode & S_IFMT) == S_IFDIR;
}

static bool is_lnk(const struct vnode *n)
{
	return (n->mode & S_IFMT) == S_IFLNK;
}

static bool is_reg(const struct vnode *n)
{
	return (n->mode & S_IFMT) == S_IFREG;
}

static void free_pages(struct vnode *n, uint64_t from)
{
	for (uint64_t i = from; i < n->npages; i++)
		if (n->pages[i]) {
			mm_frame_free(mm_va_pfn(n->pages[i]));
			n->pages[i] = NULL;
			data_pages--;
		}
}

/* (lock held) n's program pages let go (the processes that map them keep theirs) */
static void drop_exec_pages(struct vnode *n)
{
	if (!n->exec_pages)
		return;
	for (uint64_t i = 0; i < n->nexec; i++)
		if (n->exec_pages[i]) {
			mm_frame_put(n->exec_pages[i] - 1);
			exec_held--;
		}
	kfree(n->exec_pages);
	n->exec_pages = NULL;
	n->nexec = 0;
	if (n->exec_prev)
		n->exec_prev->exec_next = n->exec_next;
	else
		exec_nodes = n->exec_next;
	if (n->exec_next)
		n->exec_next->exec_prev = n->exec_prev;
	n->exec_next = n->exec_prev = NULL;
}

/* (lock held) every node's program pages: whether any were held */
static bool drop_all_exec_pages(void)
{
	bool any = exec_nodes != NULL;

	while (exec_nodes)
		drop_exec_pages(exec_nodes);
	return any;
}

/* a frame for a file's data: when there is none, the program pages kept for speed go */
static int64_t data_frame(void)
{
	int64_t pfn = mm_frame_alloc();

	if (pfn < 0 && drop_all_exec_pages())
		pfn = mm_frame_alloc();
	return pfn;
}

/* (lock held) a reference less: the node goes with its last */
static void put(struct vnode *n)
{
	if (!n || --n->refs)
		return;
	drop_exec_pages(n);
	free_pages(n, 0);
	kfree(n->pages);
	kfree(n->target);
	kfree(n);
}

static struct dentry *find(const struct vnode *dir, const char *name, size_t len)
{
	for (struct dentry *d = dir->children; d; d = d->next)
		if (strlen(d->name) == len && !memcmp(d->name, name, len))
			return d;
	return NULL;
}

/* (lock held) name -> n in dir: 0 or -ENOMEM */
static int link_in(struct vnode *dir, const char *name, size_t len, struct vnode *n)
{
	struct dentry *d = kmalloc(sizeof(*d) + len + 1);

	if (!d)
		return -ENOMEM;
	memcpy(d->name, name, len);
	d->name[len] = 0;
	d->node = n;
	d->next = NULL;
	struct dentry **pp = &dir->children;

	while (*pp)
		pp = &(*pp)->next;
	*pp = d;
	n->refs++;
	n->nlink++;
	if (is_dir(n)) {
		n->parent = dir;
		n->self = d;
		n->nlink++; /* its "." */
		dir->nlink++; /* its ".." */
	}
	dir->mtime = dir->ctime = now_ns();
	return 0;
}

/* (lock held) removes the entry d of dir; the node goes with its last reference */
static void unlink_in(struct vnode *dir, struct dentry *d)
{
	for (struct dentry **pp = &dir->children; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	struct vnode *n = d->node;

	n->nlink--;
	if (is_dir(n)) {
		n->nlink--;
		dir->nlink--;
		n->self = NULL;
	}
	n->ctime = dir->mtime = dir->ctime = now_ns();
	kfree(d);
	put(n);
}

/* --- seeding from the tar image ----------------------------------------------------------- */

struct walk {
	struct vnode *dir;   /* the last component's directory (held) */
	struct vnode *node;  /* what it names (held), NULL: nothing */
	char last[NAME_MAX + 1];
	int links;
};

static int walk_path(struct walk *w, struct vnode *start, const char *path, bool follow);
static int trunc_locked(struct vnode *n, uint64_t len);

/* (lock held) the directory at a normalised path, made with its parents as needed */
static struct vnode *mkdirs(const char *path, uint32_t mode)
{
	struct vnode *dir = root;

	for (const char *p = path; *p;) {
		const char *q = p;

		while (*q && *q != '/')
			q++;
		struct dentry *d = find(dir, p, (size_t)(q - p));

		if (!d) {
			struct vnode *n = node_new(S_IFDIR | (mode & 07777));

			if (!n || link_in(dir, p, (size_t)(q - p), n)) {
				kfree(n);
				return NULL;
			}
			d = find(dir, p, (size_t)(q - p));
		}
		if (!is_dir(d->node))
			return NULL;
		dir = d->node;
		p = *q ? q + 1 : q;
	}
	return dir;
}

/* (lock held) the tree from the image: 0, or -ENOMEM / -EIO (said) */
static int seed_tree(void)
{
	char err[128];
	struct tar_entry e;
	size_t pos = 0;
	int rc;

	if (seeded)
		return 0;
	if (!root) {
		root = node_new(S_IFDIR | 0755);
		if (!root)
			return -ENOMEM;
		root->parent = root;
		root->nlink = 2;
		root->refs = 1;
	}
	while (seed && (rc = tar_next(seed, seed_len, &pos, &e, err, sizeof(err))) == 1) {
		if (!e.name[0])
			continue; /* the root itself ("./") */
		char dirpart[TAR_NAME_MAX + 1];
		const char *base = e.name, *slash = NULL;

		for (const char *c = e.name; *c; c++)
			if (*c == '/')
				slash = c;
		dirpart[0] = 0;
		if (slash) {
			memcpy(dirpart, e.name, (size_t)(slash - e.name));
			dirpart[slash - e.name] = 0;
			base = slash + 1;
		}
		struct vnode *dir = mkdirs(dirpart, 0755);

		if (!dir)
			return -ENOMEM;
		struct dentry *old = find(dir, base, strlen(base));

		if (e.type == '5') {
			if (old && is_dir(old->node)) {
				old->node->mode = S_IFDIR | (e.mode & 07777);
				continue;
			}
			if (!mkdirs(e.name, e.mode))
				return -ENOMEM;
			continue;
		}
		if (e.type != '0' && e.type != '7' && e.type != '2' && e.type != '1')
			continue; /* devices and FIFOs: not here */
		if (old)
			unlink_in(dir, old); /* a later entry replaces an earlier one, as tar does */
		struct vnode *n;

		if (e.type == '1') { /* a hard link to an earlier entry (a normalised path) */
			struct walk w = {0};

			rc = 0;
			if (!walk_path(&w, root, e.link[0] ? e.link : ".", false)) {
				if (w.node && is_reg(w.node))
					rc = link_in(dir, base, strlen(base), w.node);
				put(w.node);
				put(w.dir);
			}
			if (rc)
				return rc; /* (a link to nothing is skipped) */
			continue;
		}
		n = node_new((e.type == '2' ? S_IFLNK : S_IFREG) | (e.mode & 07777));
		if (!n)
			return -ENOMEM;
		if (e.type == '2') {
			size_t tl = strlen(e.link);

			n->target = kmalloc(tl + 1);
			if (!n->target) {
				kfree(n);
				return -ENOMEM;
			}
			memcpy(n->target, e.link, tl + 1);
			n->size = tl;
			n->mode = S_IFLNK | 0777;
		} else {
			n->image = seed + e.offset;
			n->size = e.size;
		}
		if (link_in(dir, base, strlen(base), n)) {
			put(n);
			return -ENOMEM;
		}
	}
	if (seed && rc < 0) {
		kprintf("hp: files: the tar image is corrupt: %s\n", err);
		return -EIO;
	}
	seeded = true;
	mm_set_reclaim(reclaim_exec_pages);
	return 0;
}

void vfs_seed(const uint8_t *img, size_t len)
{
	mutex_lock(&lock, NO_DEADLINE);
	seed = img;
	seed_len = len;
	seeded = false; /* (made at the first use) */
	mutex_unlock(&lock);
}

/* --- lookups ------------------------------------------------------------------------------ */

/* (lock held) follows symlink n found in w->dir: w->node becomes what it names */
static int follow_link(struct walk *w, struct vnode *n)
{
	if (++w->links > LINKS_MAX)
		return -ELOOP;
	struct vnode *from = w->dir;

	from->refs++;
	char *t = kmalloc(strlen(n->target) + 1);

	if (!t) {
		put(from);
		return -ENOMEM;
	}
	memcpy(t, n->target, strlen(n->target) + 1);
	put(w->dir);
	w->dir = NULL;
	int rc = walk_path(w, t[0] == '/' ? root : from, t, true);

	kfree(t);
	put(from);
	return rc;
}

/* (lock held) walks path from start (absolute: from the root): w->dir gets the last
 * component's directory, w->node what the component names (NULL: nothing by that name, the
 * directory exists), w->last its name; both held. A final link is followed when `follow`.
 * 0, or -ENOENT (a directory on the way is missing), -ENOTDIR, -ELOOP, -ENAMETOOLONG. */
static int walk_path(struct walk *w, struct vnode *start, const char *path, bool follow)
{
	struct vnode *dir = path[0] == '/' ? root : start;
	int rc = 0;

	dir->refs++;
	w->node = NULL;
	w->last[0] = 0;
	for (const char *p = path;;) {
		while (*p == '/')
			p++;
		const char *q = p;

		while (*q && *q != '/')
			q++;
		size_t len = (size_t)(q - p);
		const char *rest = q;

		while (*rest == '/')
			rest++;
		bool final = !*rest;

		if (len > NAME_MAX) {
			rc = -ENAMETOOLONG;
			break;
		}
		if (len == 0) { /* the path was "/" or "" (or ended in '/') */
			w->dir = dir->parent;
			w->dir->refs++;
			w->node = dir;
			memcpy(w->last, ".", 2);
			return 0;
		}
		struct vnode *n;

		if (len == 1 && p[0] == '.')
			n = dir;
		else if (len == 2 && p[0] == '.' && p[1] == '.')
			n = dir->parent;
		else {
			struct dentry *d = find(dir, p, len);

			n = d ? d->node : NULL;
		}
		if (final) {
			memcpy(w->last, p, len);
			w->last[len] = 0;
			w->dir = dir;
			if (n && is_lnk(n) && (follow || *q == '/'))
				return follow_link(w, n);
			if (n)
				n->refs++;
			w->node = n;
			if (n && *q == '/' && !is_dir(n)) { /* "file/" */
				put(n);
				put(dir);
				w->node = NULL;
				w->dir = NULL;
				return -ENOTDIR;
			}
			return 0;
		}
		if (!n) {
			rc = -ENOENT;
			break;
		}
		if (is_lnk(n)) {
			struct walk sub = {.links = w->links};

			w->dir = dir;
			rc = follow_link(&sub, n);
			dir = NULL;
			w->links = sub.links;
			if (!rc && !sub.node)
				rc = -ENOENT;
			if (rc) {
				put(sub.dir);
				put(sub.node);
				return rc;
			}
			put(sub.dir);
			n = sub.node; /* (held) */
			dir = n;
			if (!is_dir(n)) {
				rc = -ENOTDIR;
				break;
			}
			p = q;
			continue;
		}
		if (!is_dir(n)) {
			rc = -ENOTDIR;
			break;
		}
		n->refs++;
		put(dir);
		dir = n;
		p = q;
	}
	put(dir);
	w->dir = NULL;
	w->node = NULL;
	return rc;
}

/* (lock held) the tree ready and base's directory (a path, "" the root): held */
static int start_at(const char *base, struct vnode **out)
{
	int rc = seed_tree();

	if (rc)
		return rc;
	struct walk w = {0};

	if (!base || !*base) {
		root->refs++;
		*out = root;
		return 0;
	}
	rc = walk_path(&w, root, base, true);
	if (!rc && (!w.node || !is_dir(w.node)))
		rc = w.node ? -ENOTDIR : -ENOENT;
	put(w.dir);
	if (rc) {
		put(w.node);
		return rc;
	}
	*out = w.node;
	return 0;
}

/* (lock held) base + path walked; w's dir and node held on success */
static int lookup(const char *base, const char *path, bool follow, struct walk *w)
{
	struct vnode *start;

	if (!*path)
		return -ENOENT;
	int rc = start_at(path[0] == '/' ? "" : base, &start);

	if (rc)
		return rc;
	memset(w, 0, sizeof(*w));
	rc = walk_path(w, start, path, follow);
	put(start);
	return rc;
}

long vfs_open(const char *base, const char *path, uint64_t flags, uint32_t mode,
	      uint32_t uid, uint32_t gid, struct vnode **out)
{
	struct walk w;

	mutex_lock(&lock, NO_DEADLINE);
	int rc = lookup(base, path, !(flags & VFS_NOFOLLOW) &&
					    !((flags & VFS_CREAT) && (flags & VFS_EXCL)), &w);

	if (rc) {
		mutex_unlock(&lock);
		return rc;
	}
	struct vnode *n = w.node;

	if (n && (flags & VFS_CREAT) && (flags & VFS_EXCL))
		rc = -EEXIST;
	else if (n && is_lnk(n))
		rc = -ELOOP; /* O_NOFOLLOW on a link (or O_CREAT|O_EXCL) */
	else if (!n && !(flags & VFS_CREAT))
		rc = -ENOENT;
	else if (!n && !strcmp(w.last, "."))
		rc = -EISDIR;
	else if (!n) {
		n = node_new(S_IFREG | (mode & 07777));
		if (!n || link_in(w.dir, w.last, strlen(w.last), n)) {
			kfree(n);
			n = NULL;
			rc = -ENOMEM;
		} else {
			n->uid = uid;
			n->gid = gid;
			n->refs++; /* (the caller's) */
		}
	} else if (is_dir(n) && (flags & (VFS_WRITE | VFS_TRUNC | VFS_CREAT)))
		rc = -EISDIR;
	else if (!is_dir(n) && (flags & VFS_DIRECTORY))
		rc = -ENOTDIR;
	if (!rc && (flags & VFS_TRUNC) && is_reg(n) && (flags & VFS_WRITE))
		rc = trunc_locked(n, 0);
	put(w.dir);
	if (rc) {
		put(n);
		mutex_unlock(&lock);
		return rc;
	}
	*out = n;
	mutex_unlock(&lock);
	return 0;
}

void vfs_put(struct vnode *n)
{
	mutex_lock(&lock, NO_DEADLINE);
	put(n);
	mutex_unlock(&lock);
}

void vfs_hold(struct vnode *n)
{
	mutex_lock(&lock, NO_DEADLINE);
	n->refs++;
	mutex_unlock(&lock);
}

bool vfs_is_dir(const struct vnode *n)
{
	return is_dir(n);
}

/* --- data --------------------------------------------------------------------------------- */

/* (lock held) n's bytes in pages of its own (the first change of an image file) */
static int own_pages(struct vnode *n, uint64_t upto)
{
	uint64_t want = (upto + PAGE_SZ - 1) / PAGE_SZ;

	n->gen++; /* (the bytes change: programs loaded from here on copy or map the new ones) */
	drop_exec_pages(n);

	if (want > n->npages) {
		uint64_t cap = n->npages ? n->npages : 4;

		while (cap < want)
			cap *= 2;
		uint8_t **p = kcalloc(cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		if (n->pages)
			memcpy(p, n->pages, n->npages * sizeof(*p));
		kfree(n->pages);
		n->pages = p;
		n->npages = cap;
	}
	if (n->image) { /* copied out of the image once: from here on the pages are the file */
		const uint8_t *img = n->image;

		n->image = NULL;
		for (uint64_t off = 0; off < n->size; off += PAGE_SZ) {
			uint64_t i = off / PAGE_SZ;
			int64_t pfn = data_frame();

			if (pfn < 0) {
				free_pages(n, 0);
				n->image = img;
				return -ENOSPC;
			}
			n->pages[i] = mm_frame_va((uint64_t)pfn);
			data_pages++;
			uint64_t k = MIN(PAGE_SZ, n->size - off);

			memcpy(n->pages[i], img + off, k);
			memset(n->pages[i] + k, 0, PAGE_SZ - k);
		}
	}
	return 0;
}

/* (lock held) the page of n at index i, made (zeroed) if need be, or NULL */
static uint8_t *page_at(struct vnode *n, uint64_t i)
{
	if (!n->pages[i]) {
		int64_t pfn = data_frame();

		if (pfn < 0)
			return NULL;
		n->pages[i] = mm_frame_va((uint64_t)pfn);
		memset(n->pages[i], 0, PAGE_SZ);
		data_pages++;
	}
	return n->pages[i];
}

long vfs_read(struct vnode *n, uint64_t buf, uint64_t len, uint64_t off)
{
	mutex_lock(&lock, NO_DEADLINE);
	long rc = 0;

	if (is_dir(n))
		rc = -EISDIR;
	else if (off < n->size) {
		uint64_t end = MIN(n->size, off + len), done = 0;

		while (off + done < end) {
			uint64_t at = off + done, k = MIN(end - at, PAGE_SZ - at % PAGE_SZ);
			const uint8_t *src = n->image ? n->image + at
					   : n->pages[at / PAGE_SZ] ? n->pages[at / PAGE_SZ] + at % PAGE_SZ
								    : NULL;
			int bad;

			if (src) {
				bad = copy_to_app(buf + done, src, k);
			} else {
				static const uint8_t zero[256];

				bad = 0;
				for (uint64_t z = 0; z < k && !bad; z += sizeof(zero))
					bad = copy_to_app(buf + done + z, zero,
							  MIN(sizeof(zero), k - z));
			}
			if (bad) {
				rc = done ? (long)done : -EFAULT;
				break;
			}
			done += k;
			rc = (long)done;
		}
		n->atime = now_ns();
	}
	mutex_unlock(&lock);
	return rc;
}

long vfs_write(struct vnode *n, uint64_t buf, uint64_t len, uint64_t *off, bool append)
{
	mutex_lock(&lock, NO_DEADLINE);
	long rc = 0;
	uint64_t at = append ? n->size : *off;

	if (!is_reg(n))
		rc = -EISDIR;
	else if (at + len < at || at + len > VFS_FILE_MAX)
		rc = -EFBIG;
	else if (len && (rc = own_pages(n, at + len)) == 0) {
		uint64_t done = 0;

		while (done < len) {
			uint64_t p = at + done, k = MIN(len - done, PAGE_SZ - p % PAGE_SZ);
			uint8_t *dst = page_at(n, p / PAGE_SZ);

			if (!dst) {
				rc = done ? 0 : -ENOSPC;
				break;
			}
			if (copy_from_app(dst + p % PAGE_SZ, buf + done, k)) {
				rc = done ? 0 : -EFAULT;
				break;
			}
			done += k;
		}
		if (done) {
			if (at + done > n->size)
				n->size = at + done;
			n->mtime = n->ctime = now_ns();
			*off = at + done;
			rc = (long)done;
		}
	}
	mutex_unlock(&lock);
	return rc;
}

static int trunc_locked(struct vnode *n, uint64_t len)
{
	if (!is_reg(n))
		return is_dir(n) ? -EISDIR : -EINVAL;
	if (len > VFS_FILE_MAX)
		return -EFBIG;
	if (len != n->size || n->image) {
		int rc = own_pages(n, len > n->size ? len : n->size);

		if (rc)
			return rc;
		if (len < n->size) {
			free_pages(n, (len + PAGE_SZ - 1) / PAGE_SZ);
			if (len % PAGE_SZ && n->pages[len / PAGE_SZ])
				memset(n->pages[len / PAGE_SZ] + len % PAGE_SZ, 0,
				       PAGE_SZ - len % PAGE_SZ);
		}
		n->size = len; /* (growing: the pages past the old end are holes, read as 0) */
	}
	n->mtime = n->ctime = now_ns();
	return 0;
}

long vfs_truncate(struct vnode *n, uint64_t len)
{
	mutex_lock(&lock, NO_DEADLINE);
	long rc = trunc_locked(n, len);

	mutex_unlock(&lock);
	return rc;
}

const uint8_t *vfs_contents(struct vnode *n, size_t *len, void **tofree, uint64_t *gen)
{
	mutex_lock(&lock, NO_DEADLINE);
	const uint8_t *p = NULL;

	if (gen)
		*gen = n->gen;
	*tofree = NULL;
	*len = (size_t)n->size;
	if (!is_reg(n)) {
		p = NULL;
	} else if (n->image || !n->size) {
		p = n->image ? n->image : (const uint8_t *)"";
	} else {
		uint8_t *b = kmalloc(n->size);

		if (b) {
			for (uint64_t off = 0; off < n->size; off += PAGE_SZ) {
				uint64_t k = MIN(PAGE_SZ, n->size - off);

				if (n->pages[off / PAGE_SZ])
					memcpy(b + off, n->pages[off / PAGE_SZ], k);
				else
					memset(b + off, 0, k);
			}
			*tofree = b;
			p = b;
		}
	}
	mutex_unlock(&lock);
	return p;
}

/* Exec's pages (hp/app.c load_segments): a page of a program, made once from its bytes and
 * kept while the bytes stay as they are, is mapped read-only into every process that runs
 * it, as Linux maps a file's pages from its page cache, rather than copied for each. They
 * go when the file changes or goes, at the end of the app (vfs_drop_exec_pages: its memory
 * is counted back), and when memory runs short (mm_set_reclaim, data_frame). None are
 * made while less than 1/16 of the memory is free: the caller copies then. */
int64_t vfs_exec_page(struct vnode *n, uint64_t gen, uint64_t idx)
{
	mutex_lock(&lock, NO_DEADLINE);
	int64_t rc = -ESTALE;

	if (!is_reg(n) || n->gen != gen || idx >= (n->size + PAGE_SZ - 1) / PAGE_SZ)
		goto out;
	rc = -ENOMEM;
	if (!n->exec_pages) {
		uint64_t np = (n->size + PAGE_SZ - 1) / PAGE_SZ;

		if (!(n->exec_pages = kcalloc(np, sizeof(*n->exec_pages))))
			goto out;
		n->nexec = np;
		n->exec_next = exec_nodes;
		if (exec_nodes)
			exec_nodes->exec_prev = n;
		exec_nodes = n;
	}
	if (!n->exec_pages[idx]) {
		if (mm_free_kib() < mm_usable_kib() / 16)
			goto out;
		int64_t pfn = mm_frame_alloc();

		if (pfn < 0)
			goto out;
		uint8_t *d = mm_frame_va((uint64_t)pfn);
		uint64_t off = idx * PAGE_SZ, k = MIN(PAGE_SZ, n->size - off);

		if (n->image)
			memcpy(d, n->image + off, k);
		else if (n->pages[idx])
			memcpy(d, n->pages[idx], k);
		else
			k = 0;
		memset(d + k, 0, PAGE_SZ - k);
		n->exec_pages[idx] = (uint32_t)pfn + 1;
		exec_held++;
	}
	rc = n->exec_pages[idx] - 1;
	mm_frame_hold((uint64_t)rc);
out:
	mutex_unlock(&lock);
	return rc;
}

void vfs_drop_exec_pages(void)
{
	mutex_lock(&lock, NO_DEADLINE);
	drop_all_exec_pages();
	mutex_unlock(&lock);
}

/* (mm_set_reclaim's: it may not wait for the lock) */
static bool reclaim_exec_pages(void)
{
	static bool said;

	if (!mutex_trylock(&lock))
		return false;
	uint64_t held = exec_held;
	bool any = drop_all_exec_pages();

	mutex_unlock(&lock);
	if (any && !__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
		kprintf("hp: files: memory short: %lu KiB of programs' pages let go (copied or "
			"made again when needed)\n", (unsigned long)held * 4);
	return any;
}

/* --- metadata ----------------------------------------------------------------------------- */

void vfs_stat(struct vnode *n, uint8_t st[144])
{
	mutex_lock(&lock, NO_DEADLINE);
	uint64_t nlink = n->nlink ? n->nlink : 0, blksize = 4096, size = n->size;
	uint64_t blocks = is_reg(n) && !n->image ? 0 : (size + 511) / 512, dev = 0x1a;

	if (is_reg(n) && !n->image)
		for (uint64_t i = 0; i < n->npages; i++)
			blocks += n->pages[i] ? 8 : 0;
	if (is_dir(n))
		size = 4096;
	memset(st, 0, 144);
	memcpy(st + 0, &dev, 8);
	memcpy(st + 8, &n->ino, 8);
	memcpy(st + 16, &nlink, 8);
	memcpy(st + 24, &n->mode, 4);
	memcpy(st + 28, &n->uid, 4);
	memcpy(st + 32, &n->gid, 4);
	memcpy(st + 48, &size, 8);
	memcpy(st + 56, &blksize, 8);
	memcpy(st + 64, &blocks, 8);
	const uint64_t *t[3] = {&n->atime, &n->mtime, &n->ctime};

	for (int i = 0; i < 3; i++) {
		int64_t ts[2] = {(int64_t)(*t[i] / 1000000000), (int64_t)(*t[i] % 1000000000)};

		memcpy(st + 72 + 16 * i, ts, 16);
	}
	mutex_unlock(&lock);
}

uint64_t vfs_size(struct vnode *n)
{
	return __atomic_load_n(&n->size, __ATOMIC_RELAXED);
}

uint32_t vfs_mode(struct vnode *n)
{
	return __atomic_load_n(&n->mode, __ATOMIC_RELAXED);
}

/* the attributes given (UINT32_MAX, VFS_TIME_OMIT: left), ctime now */
static void change(struct vnode *n, uint32_t mode, uint32_t uid, uint32_t gid,
		   uint64_t atime, uint64_t mtime)
{
	mutex_lock(&lock, NO_DEADLINE);
	if (mode != UINT32_MAX)
		n->mode = (n->mode & S_IFMT) | (mode & 07777);
	if (uid != UINT32_MAX)
		n->uid = uid;
	if (gid != UINT32_MAX)
		n->gid = gid;
	if (atime != VFS_TIME_OMIT)
		n->atime = atime;
	if (mtime != VFS_TIME_OMIT)
		n->mtime = mtime;
	n->ctime = now_ns();
	mutex_unlock(&lock);
}

long vfs_chmod(struct vnode *n, uint32_t mode)
{
	change(n, mode & 07777, UINT32_MAX, UINT32_MAX, VFS_TIME_OMIT, VFS_TIME_OMIT);
	return 0;
}

long vfs_chown(struct vnode *n, uint32_t uid, uint32_t gid)
{
	change(n, UINT32_MAX, uid, gid, VFS_TIME_OMIT, VFS_TIME_OMIT);
	return 0;
}

void vfs_set_times(struct vnode *n, uint64_t atime, uint64_t mtime)
{
	change(n, UINT32_MAX, UINT32_MAX, UINT32_MAX, atime, mtime);
}

long vfs_path(struct vnode *n, char *out, size_t size)
{
	mutex_lock(&lock, NO_DEADLINE);
	char tmp[VFS_PATH_MAX];
	size_t at = sizeof(tmp) - 1;
	long rc = 0;

	tmp[at] = 0;
	for (struct vnode *d = n; d != root; d = d->parent) {
		if (!d->self) {
			rc = -ENOENT; /* removed */
			break;
		}
		size_t l = strlen(d->self->name);

		if (l + 1 > at) {
			rc = -ENAMETOOLONG;
			break;
		}
		at -= l;
		memcpy(tmp + at, d->self->name, l);
		tmp[--at] = '/';
	}
	mutex_unlock(&lock);
	if (rc)
		return rc;
	/* normalised as the working directory is kept: no leading '/', "" the root */
	const char *p = tmp + at + (tmp[at] == '/' ? 1 : 0);

	if (strlen(p) >= size)
		return -ENAMETOOLONG;
	strlcpy(out, p, size);
	return 0;
}

/* getdents64: ".", "..", then the children in the order made; *pos counts the records
 * given so far (a child removed meanwhile may shift what comes next, as on tmpfs) */
long vfs_getdents(struct vnode *n, uint64_t *pos, uint64_t buf, uint64_t count)
{
	mutex_lock(&lock, NO_DEADLINE);
	uint64_t used = 0, i = 0;
	long rc = 0;

	if (!is_dir(n)) {
		mutex_unlock(&lock);
		return -ENOTDIR;
	}
	struct dentry *d = n->children;

	for (;; i++) {
		const char *name;
		const struct vnode *c;

		if (i == 0)
			name = ".", c = n;
		else if (i == 1)
			name = "..", c = n->parent;
		else if (d)
			name = d->name, c = d->node, d = d->next;
		else
			break;
		if (i < *pos)
			continue;
		size_t len = strlen(name);
		uint16_t reclen = (uint16_t)ALIGN_UP(19 + len + 1, 8);
		uint8_t rec[19 + NAME_MAX + 1 + 8] = {0};
		uint64_t next = i + 1;
		uint8_t type = is_dir(c) ? 4 : is_lnk(c) ? 10 : 8;

		if (used + reclen > count) {
			rc = used ? 0 : -EINVAL;
			break;
		}
		memcpy(rec, &c->ino, 8);
		memcpy(rec + 8, &next, 8);
		memcpy(rec + 16, &reclen, 2);
		rec[18] = type;
		memcpy(rec + 19, name, len);
		if (copy_to_app(buf + used, rec, reclen)) {
			rc = used ? 0 : -EFAULT;
			break;
		}
		used += reclen;
		*pos = next;
	}
	mutex_unlock(&lock);
	return rc ? rc : (long)used;
}

/* --- changes to the tree ------------------------------------------------------------------ */

long vfs_stat_path(const char *base, const char *path, bool follow, uint8_t st[144])
{
	struct vnode *n;
	long rc = vfs_get(base, path, follow, &n);

	if (rc)
		return rc;
	vfs_stat(n, st);
	vfs_put(n);
	return 0;
}

long vfs_get(const char *base, const char *path, bool follow, struct vnode **out)
{
	struct walk w;

	mutex_lock(&lock, NO_DEADLINE);
	int rc = lookup(base, path, follow, &w);

	if (!rc) {
		put(w.dir);
		if (!w.node)
			rc = -ENOENT;
		else
			*out = w.node;
	}
	mutex_unlock(&lock);
	return rc;
}

/* a new node at path, which must not exist: a directory, or a symlink to target */
static long make_node(const char *base, const char *path, uint32_t mode, uint32_t uid,
		      uint32_t gid, const char *target)
{
	struct walk w;
	size_t tl = target ? strlen(target) : 0;

	mutex_lock(&lock, NO_DEADLINE);
	int rc = lookup(base, path, false, &w);

	if (!rc) {
		if (w.node)
			rc = -EEXIST;
		else {
			struct vnode *n = node_new(mode);
			char *t = n && target ? kmalloc(tl + 1) : NULL;

			if (!n || (target && !t) || link_in(w.dir, w.last, strlen(w.last), n)) {
				kfree(t);
				kfree(n);
				rc = -ENOMEM;
			} else {
				n->uid = uid;
				n->gid = gid;
				if (t) {
					memcpy(t, target, tl + 1);
					n->target = t;
					n->size = tl;
				}
			}
		}
		put(w.node);
		put(w.dir);
	}
	mutex_unlock(&lock);
	return rc;
}

long vfs_mkdir(const char *base, const char *path, uint32_t mode, uint32_t uid, uint32_t gid)
{
	return make_node(base, path, S_IFDIR | (mode & 07777), uid, gid, NULL);
}

long vfs_symlink(const char *target, const char *base, const char *path)
{
	return *target ? make_node(base, path, S_IFLNK | 0777, 0, 0, target) : -ENOENT;
}

long vfs_readlink(const char *base, const char *path, char *out, size_t size)
{
	struct walk w;

	mutex_lock(&lock, NO_DEADLINE);
	long rc = lookup(base, path, false, &w);

	if (!rc) {
		if (!w.node)
			rc = -ENOENT;
		else if (!is_lnk(w.node))
			rc = -EINVAL;
		else {
			size_t l = MIN(strlen(w.node->target), size);

			memcpy(out, w.node->target, l);
			rc = (long)l;
		}
		put(w.node);
		put(w.dir);
	}
	mutex_unlock(&lock);
	return rc;
}

/* (lock held) whether a is b or one of b's ancestors */
static bool ancestor(const struct vnode *a, const struct vnode *b)
{
	for (const struct vnode *d = b;; d = d->parent) {
		if (d == a)
			return true;
		if (d == root)
			return false;
	}
}

long vfs_unlink(const char *base, const char *path, bool dir)
{
	struct walk w;

	mutex_lock(&lock, NO_DEADLINE);
	int rc = lookup(base, path, false, &w);

	if (!rc) {
		struct vnode *n = w.node;
		struct dentry *d = n ? find(w.dir, w.last, strlen(w.last)) : NULL;

		if (!n)
			rc = -ENOENT;
		else if (!strcmp(w.last, ".") || !strcmp(w.last, ".."))
			rc = dir ? (w.last[1] ? -ENOTEMPTY : -EINVAL) : -EISDIR;
		else if (!d || d->node != n)
			rc = -EBUSY; /* (the root, or a name that is not in its directory) */
		else if (dir && !is_dir(n))
			rc = -ENOTDIR;
		else if (!dir && is_dir(n))
			rc = -EISDIR;
		else if (dir && n->children)
			rc = -ENOTEMPTY;
		else
			unlink_in(w.dir, d);
		put(n);
		put(w.dir);
	}
	mutex_unlock(&lock);
	return rc;
}

/* (lock held) a two-path call's walks (link, rename): both held on 0 */
static int lookup2(const char *obase, const char *opath, bool follow, const char *nbase,
		   const char *npath, struct walk *o, struct walk *w)
{
	int rc = lookup(obase, opath, follow, o);

	if (!rc && (rc = lookup(nbase, npath, false, w))) {
		put(o->node);
		put(o->dir);
	}
	return rc;
}

static void put2(struct walk *o, struct walk *w)
{
	put(w->node);
	put(w->dir);
	put(o->node);
	put(o->dir);
}

long vfs_link(const char *obase, const char *opath, const char *nbase, const char *npath,
	      bool follow)
{
	struct walk o, w;

	mutex_lock(&lock, NO_DEADLINE);
	int rc = lookup2(obase, opath, follow, nbase, npath, &o, &w);

	if (!rc) {
		if (!o.node)
			rc = -ENOENT;
		else if (is_dir(o.node))
			rc = -EPERM;
		else if (w.node)
			rc = -EEXIST;
		else if (!(rc = link_in(w.dir, w.last, strlen(w.last), o.node)))
			o.node->ctime = now_ns();
		put2(&o, &w);
	}
	mutex_unlock(&lock);
	return rc;
}

long vfs_rename(const char *obase, const char *opath, const char *nbase, const char *npath,
		bool noreplace)
{
	struct walk o, w;

	mutex_lock(&lock, NO_DEADLINE);
	int rc = lookup2(obase, opath, false, nbase, npath, &o, &w);

	if (!rc) {
		struct vnode *n = o.node, *t = w.node;
		struct dentry *od = n ? find(o.dir, o.last, strlen(o.last)) : NULL;
		struct dentry *td = t ? find(w.dir, w.last, strlen(w.last)) : NULL;

		if (!n)
			rc = -ENOENT;
		else if (!od || od->node != n || (t && (!td || td->node != t)))
			rc = -EBUSY; /* ".", "..", the root */
		else if (n == t)
			rc = 0; /* the same file: nothing to do */
		else if (t && noreplace)
			rc = -EEXIST;
		else if (is_dir(n) && ancestor(n, w.dir))
			rc = -EINVAL; /* into itself */
		else if (t && is_dir(n) && !is_dir(t))
			rc = -ENOTDIR;
		else if (t && !is_dir(n) && is_dir(t))
			rc = -EISDIR;
		else if (t && is_dir(t) && t->children)
			rc = -ENOTEMPTY;
		else {
			n->refs++; /* (kept while it moves) */
			rc = link_in(w.dir, w.last, strlen(w.last), n);
			if (!rc) {
				/* the new name first, then what it replaces and the old name go; a
				 * directory keeps its counts (+2 -2) and takes its new name */
				struct dentry *ns = n->self;

				if (td)
					unlink_in(w.dir, td);
				unlink_in(o.dir, od);
				if (is_dir(n))
					n->self = ns;
			}
			put(n);
		}
		put2(&o, &w);
	}
	mutex_unlock(&lock);
	return rc;
}

void vfs_stats(uint64_t *files_kib, uint64_t *exec_kib)
{
	*files_kib = __atomic_load_n(&data_pages, __ATOMIC_RELAXED) * 4;
	*exec_kib = __atomic_load_n(&exec_held, __ATOMIC_RELAXED) * 4;
}
