/* The WebSocket masking loop (RFC 6455 section 5.3) in C.
 *
 * An optional accelerator: ``_frames`` uses these functions when this module
 * was built and ``CURIONET_NO_EXTENSIONS`` is not set, and its pure-Python
 * ``_unmask`` / ``_unmask_in_place`` otherwise.  Both pairs have the same
 * contract; tests/test_websocket_speedups.py compares them.
 *
 *   unmask(data, key) -> bytes
 *       ``data`` (any C-contiguous buffer) XORed with the 4-byte ``key``
 *       repeated from its first byte.  Masking and unmasking are the same
 *       operation, so the client masks its outgoing frames with it too.
 *
 *   unmask_in_place(buf, start, key) -> None
 *       ``buf[start:]`` (a writable buffer) XORed with ``key`` in place,
 *       the key starting at ``buf[start]``.  ``0 <= start <= len(buf)``.
 *
 * ``key`` must be exactly 4 bytes (ValueError otherwise).  The loop XORs
 * 8 bytes at a time with the key doubled to 64 bits; memcpy keeps the
 * loads and stores legal at any alignment (compilers turn it into plain
 * moves).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static int
get_key(PyObject *obj, unsigned char key[4])
{
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if (view.len != 4) {
        PyErr_Format(PyExc_ValueError, "the masking key must be 4 bytes, not %zd", view.len);
        PyBuffer_Release(&view);
        return -1;
    }
    memcpy(key, view.buf, 4);
    PyBuffer_Release(&view);
    return 0;
}

/* out[i] = in[i] ^ key[i % 4] for i < n; in and out may be the same. */
static void
xor_mask(unsigned char *out, const unsigned char *in, Py_ssize_t n, const unsigned char key[4])
{
    unsigned char key8[8];
    uint64_t k, w;
    Py_ssize_t i = 0;

    memcpy(key8, key, 4);
    memcpy(key8 + 4, key, 4);
    memcpy(&k, key8, 8);
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, in + i, 8);
        w ^= k;
        memcpy(out + i, &w, 8);
    }
    for (; i < n; i++) {
        out[i] = in[i] ^ key[i & 3];
    }
}

static PyObject *
speedups_unmask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    unsigned char key[4];
    Py_buffer data;
    PyObject *result;

    (void)module;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "unmask() takes 2 arguments (data, key), not %zd", nargs);
        return NULL;
    }
    if (get_key(args[1], key) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result != NULL) {
        xor_mask((unsigned char *)PyBytes_AS_STRING(result), (const unsigned char *)data.buf, data.len, key);
    }
    PyBuffer_Release(&data);
    return result;
}

static PyObject *
speedups_unmask_in_place(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    unsigned char key[4];
    Py_buffer buf;
    Py_ssize_t start;

    (void)module;
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "unmask_in_place() takes 3 arguments (buf, start, key), not %zd", nargs);
        return NULL;
    }
    start = PyNumber_AsSsize_t(args[1], PyExc_OverflowError);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (get_key(args[2], key) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &buf, PyBUF_WRITABLE) < 0) {
        return NULL;
    }
    if (start < 0 || start > buf.len) {
        PyErr_Format(PyExc_ValueError, "start %zd is outside the buffer (length %zd)", start, buf.len);
        PyBuffer_Release(&buf);
        return NULL;
    }
    xor_mask((unsigned char *)buf.buf + start, (const unsigned char *)buf.buf + start, buf.len - start, key);
    PyBuffer_Release(&buf);
    Py_RETURN_NONE;
}

static PyMethodDef speedups_methods[] = {
    {"unmask", (PyCFunction)(void (*)(void))speedups_unmask, METH_FASTCALL,
     "unmask(data, key) -> bytes\n\n"
     "data XORed with the 4-byte WebSocket masking key (RFC 6455 5.3)."},
    {"unmask_in_place", (PyCFunction)(void (*)(void))speedups_unmask_in_place, METH_FASTCALL,
     "unmask_in_place(buf, start, key) -> None\n\n"
     "XOR buf[start:] with the 4-byte WebSocket masking key, in place."},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot speedups_slots[] = {
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "curionet.protocols.websocket._speedups",
    "The WebSocket masking loop in C (optional; see curionet.protocols.websocket._frames).",
    0,
    speedups_methods,
    speedups_slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
