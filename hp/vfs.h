/* The file tree in RAM, seeded from the tar image (hp/vfs.c; hp/README.md "Files").
 * Paths: absolute, or relative to `base` (a directory's path as the working directory is
 * kept: no leading '/', "" the root). Nodes returned are held: vfs_put when done. Every
 * call returns 0 (or a count) or a negative errno as Linux gives it. */
#ifndef HP_VFS_H
#define HP_VFS_H

#include "lib/compiler.h"

#define NAME_MAX     255
#define VFS_PATH_MAX 1024 /* a path's bytes at most (Linux: 4096): ENAMETOOLONG past it */
#define VFS_FILE_MAX (1ull << 40)	 /* a file's size at most */
#define VFS_TIME_OMIT UINT64_MAX

/* vfs_open's flags (not Linux's bits: hp/fs.c translates) */
#define VFS_WRITE     1
#define VFS_CREAT     2
#define VFS_EXCL      4
#define VFS_TRUNC     8
#define VFS_DIRECTORY 16
#define VFS_NOFOLLOW  32

struct vnode;

/* the image the tree is made from, at its first use (again after a new image) */
void vfs_seed(const uint8_t *img, size_t len);
long vfs_open(const char *base, const char *path, uint64_t flags, uint32_t mode, uint32_t uid,
	      uint32_t gid, struct vnode **out);
/* what path names (follow: a final symlink followed) */
long vfs_get(const char *base, const char *path, bool follow, struct vnode **out);
void vfs_hold(struct vnode *n);
void vfs_put(struct vnode *n);
bool vfs_is_dir(const struct vnode *n);
uint64_t vfs_size(struct vnode *n);
uint32_t vfs_mode(struct vnode *n);
/* bytes at off into the app's buf: how many (0 at the end) */
long vfs_read(struct vnode *n, uint64_t buf, uint64_t len, uint64_t off);
/* the app's bytes at *off (append: at the end), *off moved past them: how many */
long vfs_write(struct vnode *n, uint64_t buf, uint64_t len, uint64_t *off, bool append);
long vfs_truncate(struct vnode *n, uint64_t len);
/* a regular file's bytes in one piece (the image's, or a copy in *tofree to kfree): NULL
 * when not a regular file or no memory */
const uint8_t *vfs_contents(struct vnode *n, size_t *len, void **tofree, uint64_t *gen);
/* exec's shared page idx of a program (hp/app.c), as its bytes were when vfs_contents gave
 * gen: the frame with a hold on it for the caller (mm_user_map_frame), zero past the end;
 * -ESTALE when the bytes changed since, -ENOMEM (memory short: copy it instead) */
int64_t vfs_exec_page(struct vnode *n, uint64_t gen, uint64_t idx);
/* lets go of every program's pages (the end of an app: its memory all back) */
void vfs_drop_exec_pages(void);
/* struct stat (x86-64) */
void vfs_stat(struct vnode *n, uint8_t st[144]);
long vfs_stat_path(const char *base, const char *path, bool follow, uint8_t st[144]);
long vfs_chmod(struct vnode *n, uint32_t mode);
long vfs_chown(struct vnode *n, uint32_t uid, uint32_t gid);
void vfs_set_times(struct vnode *n, uint64_t atime, uint64_t mtime);
/* a directory's path as `base` takes it */
long vfs_path(struct vnode *n, char *out, size_t size);
/* getdents64 from record *pos on */
long vfs_getdents(struct vnode *n, uint64_t *pos, uint64_t buf, uint64_t count);
long vfs_mkdir(const char *base, const char *path, uint32_t mode, uint32_t uid, uint32_t gid);
long vfs_symlink(const char *target, const char *base, const char *path);
/* the link's target, not NUL-terminated, cut at size: its length */
long vfs_readlink(const char *base, const char *path, char *out, size_t size);
/* unlink (dir: rmdir) */
long vfs_unlink(const char *base, const char *path, bool dir);
long vfs_link(const char *obase, const char *opath, const char *nbase, const char *npath,
	      bool follow);
long vfs_rename(const char *obase, const char *opath, const char *nbase, const char *npath,
		bool noreplace);
/* KiB of RAM that files' data holds, and that exec's program pages hold */
void vfs_stats(uint64_t *files_kib, uint64_t *exec_kib);

#endif
