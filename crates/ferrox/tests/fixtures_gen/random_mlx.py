# Generates the MLX fixtures embedded in crates/ferrox/tests/random.rs.
import mlx.core as mx, numpy as np
out=[]
def emit(name, arr):
    a=np.array(arr)
    shape=list(a.shape)
    dt=str(a.dtype)
    flat=a.ravel()
    if dt in ('float32',):
        vals=', '.join('0x%08x' % v for v in flat.view(np.uint32)); ty='u32'; kind='f32bits'
    elif dt=='float16':
        vals=', '.join('0x%04x' % v for v in flat.view(np.uint16)); ty='u16'; kind='f16bits'
    elif dt=='float64':
        vals=', '.join('0x%016x' % v for v in flat.view(np.uint64)); ty='u64'; kind='f64bits'
    elif dt=='bool':
        vals=', '.join('true' if v else 'false' for v in flat); ty='bool'; kind='bool'
    elif dt=='uint32':
        vals=', '.join(str(int(v)) for v in flat); ty='u32'; kind='u32'
    else:
        vals=', '.join(str(int(v)) for v in flat); ty='i64'; kind=dt
    out.append(f"const {name}: (&[usize], &[{ty}]) = (&{shape}, &[{vals}]);  // {kind}")
def bf16(name, arr):
    a=np.array(arr.astype(mx.float32))  # exact
    bitsv=(a.view(np.uint32)>>16).astype(np.uint16)
    out.append(f"const {name}: (&[usize], &[u16]) = (&{list(a.shape)}, &[{', '.join('0x%04x'%v for v in bitsv.ravel())}]);  // bf16bits")
K=lambda s: mx.random.key(s)
emit("KEY_0", K(0)); emit("KEY_BIG", K(2**33+7)); emit("KEY_MAX", K(2**64-1))
emit("SPLIT_0_2", mx.random.split(K(0))); emit("SPLIT_7_5", mx.random.split(K(7),5)); emit("SPLIT_BIG_3", mx.random.split(K(2**33+7),3))
emit("UNIFORM_0_3", mx.random.uniform(shape=(3,),key=K(0)))
emit("UNIFORM_1_2X3", mx.random.uniform(shape=(2,3),key=K(1)))
emit("UNIFORM_5_7_M2_3", mx.random.uniform(-2,3,shape=(7,),key=K(5)))
emit("UNIFORM_5_ARR", mx.random.uniform(mx.array([0.,1.,2.]),mx.array([[1.],[5.]]),shape=(2,3),key=K(5)))
emit("UNIFORM_F16", mx.random.uniform(shape=(9,),dtype=mx.float16,key=K(11)))
emit("UNIFORM_F16_RANGE", mx.random.uniform(-3,7,shape=(5,),dtype=mx.float16,key=K(12)))
bf16("UNIFORM_BF16", mx.random.uniform(shape=(9,),dtype=mx.bfloat16,key=K(13)))
emit("UNIFORM_SCALAR", mx.random.uniform(key=K(3)))
emit("NORMAL_0_5", mx.random.normal(shape=(5,),key=K(0)))
emit("NORMAL_42_3X4", mx.random.normal(shape=(3,4),key=K(42)))
emit("NORMAL_LOC_SCALE", mx.random.normal(shape=(6,),loc=1.5,scale=2.0,key=K(4)))
emit("NORMAL_F16", mx.random.normal(shape=(7,),dtype=mx.float16,key=K(9)))
bf16("NORMAL_BF16", mx.random.normal(shape=(7,),dtype=mx.bfloat16,key=K(9)))
emit("NORMAL_F64", mx.random.normal(shape=(4,),dtype=mx.float64,key=K(9)))
c=np.array(mx.random.normal(shape=(3,),dtype=mx.complex64,key=K(8)))
emit("NORMAL_C64", mx.array(np.stack([c.real,c.imag],-1)))
emit("RANDINT_3", mx.random.randint(-5,17,shape=(8,),key=K(3)))
emit("RANDINT_I8", mx.random.randint(-100,100,shape=(2,5),dtype=mx.int8,key=K(21)))
emit("RANDINT_U8_NEG", mx.random.randint(-5,17,shape=(4,),dtype=mx.uint8,key=K(22)))
emit("RANDINT_FLOAT_BOUNDS", mx.random.randint(5.5,17.2,shape=(6,),key=K(23)))
emit("RANDINT_BOOL", mx.random.randint(0,2,shape=(10,),dtype=mx.bool_,key=K(24)))
emit("RANDINT_I64", mx.random.randint(0,1000000,shape=(5,),dtype=mx.int64,key=K(25)))
emit("RANDINT_ARR", mx.random.randint(mx.array([0,10,100]),mx.array([5,20,1000]),shape=(2,3),key=K(26)))
emit("BERN_DEFAULT", mx.random.bernoulli(shape=(12,),key=K(30)))
emit("BERN_P", mx.random.bernoulli(mx.array([0.1,0.5,0.9,0.0,1.0]),key=K(31)))
emit("BERN_P_SHAPE", mx.random.bernoulli(0.3,shape=(3,4),key=K(32)))
emit("BERN_F16", mx.random.bernoulli(mx.array([0.25,0.75],dtype=mx.float16),shape=(3,2),key=K(33)))
emit("TRUNC_0", mx.random.truncated_normal(-1.0,2.0,shape=(6,),key=K(40)))
emit("TRUNC_ARR", mx.random.truncated_normal(mx.array([-2.,0.]),mx.array([[0.5],[3.0]]),key=K(41)))
emit("TRUNC_F16", mx.random.truncated_normal(-0.5,0.5,shape=(5,),dtype=mx.float16,key=K(42)))
emit("GUMBEL_0", mx.random.gumbel(shape=(6,),key=K(50)))
emit("GUMBEL_F16", mx.random.gumbel(shape=(5,),dtype=mx.float16,key=K(51)))
lg=mx.array([[0.,1.,2.,3.],[3.,2.,1.,0.],[-1.,5.,0.5,0.]])
emit("CAT_LOGITS", lg)
emit("CAT_DEFAULT", mx.random.categorical(lg,key=K(60)))
emit("CAT_AXIS0", mx.random.categorical(lg,axis=0,key=K(61)))
emit("CAT_SHAPE", mx.random.categorical(lg,shape=(5,3),key=K(62)))
emit("CAT_NUM", mx.random.categorical(lg,num_samples=6,key=K(63)))
emit("LAPLACE_0", mx.random.laplace(shape=(7,),key=K(70)))
emit("LAPLACE_LS", mx.random.laplace(shape=(5,),loc=1.0,scale=0.5,key=K(71)))
emit("LAPLACE_F16", mx.random.laplace(shape=(5,),dtype=mx.float16,key=K(72)))
emit("PERM_10", mx.random.permutation(10,key=K(80)))
emit("PERM_1", mx.random.permutation(1,key=K(81)))
emit("PERM_257", mx.random.permutation(257,key=K(82)))
emit("PERM_ARR_AX1", mx.random.permutation(mx.arange(12).reshape(3,4),axis=1,key=K(83)))
emit("PERM_ARR_AX0", mx.random.permutation(mx.arange(12).reshape(3,4),key=K(84)))
mx.random.seed(0); emit("SEED0_UNIFORM", mx.random.uniform(shape=(3,)))
emit("SEED0_THEN_NORMAL", mx.random.normal(shape=(3,)))
emit("SEED0_STATE", mx.random.state[0])
mx.random.seed(123); a=mx.random.randint(0,100,shape=(4,)); b=mx.random.bernoulli(shape=(4,)); c=mx.random.permutation(6)
emit("SEED123_RANDINT", a); emit("SEED123_BERN", b); emit("SEED123_PERM", c); emit("SEED123_STATE", mx.random.state[0])
big=np.array(mx.random.uniform(shape=(100003,),key=K(99)))
emit("BIG_UNIFORM_TAIL", mx.array(big[-5:])); emit("BIG_UNIFORM_MID", mx.array(big[50000:50004]))
bp=np.array(mx.random.permutation(70001,key=K(98)))
emit("BIG_PERM_HEAD", mx.array(bp[:6]))
bn=np.array(mx.random.normal(shape=(1<<17,),key=K(97)))
out.append(f"const BIG_NORMAL_BITSUM: u64 = {int(bn.view(np.uint32).astype(np.uint64).sum())};")
out.append(f"const BIG_UNIFORM_BITSUM: u64 = {int(big.view(np.uint32).astype(np.uint64).sum())};")
out.append(f"const BIG_PERM_WSUM: u64 = {int((bp.astype(np.uint64)*np.arange(70001,dtype=np.uint64)).sum())};")
print('\n'.join(out))

# --- large truncated_normal checksum and multivariate_normal reference ---
N=50000
i=np.arange(N)
lo=-(i%301).astype(np.float32)/np.float32(100); hi=((i%297).astype(np.float32)+np.float32(1))/np.float32(100)
t=np.array(mx.random.truncated_normal(mx.array(lo),mx.array(hi),key=mx.random.key(5)))
print(f"const BIG_TRUNC_BITSUM: u64 = {int(t.view(np.uint32).astype(np.uint64).sum())};")
mean=mx.array([1.0,-2.0,0.5]); cov=mx.array([[2.0,0.6,-0.3],[0.6,1.0,0.2],[-0.3,0.2,0.5]])
s=np.array(mx.random.multivariate_normal(mean,cov,shape=(4,),key=mx.random.key(17)))
print("const MVN_17: [f32; 12] = [" + ", ".join(repr(float(v)) for v in s.ravel()) + "];")
